import Foundation
import WillItCompile

/// What `environments` prints: per language, what a request may ask for and what it gets
/// by default, from `GET /api/v1/environments`.
enum EnvironmentsReport {
    static func decode(_ reply: ServiceReply) throws(ServiceError) -> [LanguageEnvironment] {
        do {
            return try JSONDecoder().decode([LanguageEnvironment].self, from: reply.body)
        } catch {
            throw ServiceError("the service's environments are not the list this client reads (\(error)): \(String(decoding: reply.body.prefix(300), as: UTF8.self))")
        }
    }

    /// Three lines per language, the defaults marked:
    ///
    ///     c      compilers  gcc-12 (default), gcc-11, clang-14
    ///            standards  c99, c11, gnu17 (default)
    ///            targets    x86_64, arm64 on linux, windows
    static func text(of environments: [LanguageEnvironment], palette: Palette) -> String {
        let width = (environments.map(\.language.count).max() ?? 0) + 2
        var lines: [String] = []
        for environment in environments {
            let name = palette.bold(environment.language) + String(repeating: " ", count: width - environment.language.count)
            let indent = String(repeating: " ", count: width)
            lines.append(name + "compilers  " + marked(environment.compilers, default: environment.defaultCompiler))
            if !environment.standards.isEmpty {
                lines.append(indent + "standards  " + marked(environment.standards, default: environment.defaultStandard))
            }
            lines.append(indent + "targets    " + environment.architectures.joined(separator: ", ") + " on " + environment.oses.joined(separator: ", "))
        }
        return lines.map { $0 + "\n" }.joined()
    }

    private static func marked(_ names: [String], default chosen: String?) -> String {
        names.map { $0 == chosen ? "\($0) (default)" : $0 }.joined(separator: ", ")
    }
}
