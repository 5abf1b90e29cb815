import ArgumentParser

/// The `hydrasim` command: a small Llama-style model, decoded plainly or speculatively, step by step.
@main
struct HydraSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hydrasim",
        abstract: "Run, inspect and benchmark a small Llama-style language model (llama2.c formats).",
        discussion: """
        HydraSim teaches draft-head speculative decoding (Medusa, Hydra) on a model small enough to run on a laptop CPU. Models and tokenizers use llama2.c's .bin formats.
        """,
        subcommands: [GenerateCommand.self, TraceCommand.self, DiagramCommand.self, TokenizerCommand.self, CheckpointCommand.self, TrainCommand.self,
                      StepCommand.self, HeadsCommand.self, TreeCommand.self, CostCommand.self, BenchCommand.self, BenchRenderCommand.self,
                      LessonCommand.self]
    )
}
