/// The largest request body, for the responder and for nginx's
/// `client_max_body_size`: `scripts/run` asks the responder for it
/// (`will-it-compile-responder --body-limit`), so both refuse at the same size.
public enum BodyLimit {
    /// A source of `maxSourceSize` bytes in Base64, plus room for the other fields.
    public static func bytes(forSourceSize maxSourceSize: Int) -> Int {
        maxSourceSize / 3 * 4 + 64 * 1024
    }
}
