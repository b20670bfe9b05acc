import ArgumentParser

/// `nibble`: serve, run and inspect LLaMA-family models on the CPU.
@main
struct Nibble: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nibble",
        abstract: "An LLM inference server for LLaMA-family models, with bitsandbytes-style quantization at load time.",
        subcommands: [Serve.self, Generate.self, ChatTemplateCommand.self, Inspect.self, Quantize.self, Pull.self, Bench.self]
    )
}
