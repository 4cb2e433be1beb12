import CommandLineClient
import Glibc

exit(await CommandLineMain.run(Array(CommandLine.arguments.dropFirst())))
