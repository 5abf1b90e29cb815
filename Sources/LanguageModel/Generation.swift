import Foundation
import Numerics

/// Why autoregressive generation stopped.
public enum StopReason: String, Codable, Sendable {
    /// The model produced BOS (token 1), which llama2.c treats as the end of a text.
    case bos
    /// The requested number of tokens was generated.
    case maxTokens = "max_tokens"
    /// The context (KV cache) is full.
    case contextLimit = "context_limit"
    /// The requested number of steps was taken (speculative decoding, `trace --steps`).
    case maxSteps = "max_steps"

    /// A sentence for the user.
    public var explanation: String {
        switch self {
        case .bos: "the model produced BOS (end of text)"
        case .maxTokens: "reached --max-tokens"
        case .contextLimit: "reached the model's context limit"
        case .maxSteps: "reached the step limit"
        }
    }
}

/// A prompt that cannot be generated from: one clear line.
public struct GenerationError: Error, CustomStringConvertible, LocalizedError {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { problem }
    public var errorDescription: String? { problem }
}

/// What a plain autoregressive run produced, with its timing.
public struct GenerationResult: Sendable {
    /// Generated ids (not the prompt; never the final BOS).
    public var tokens: [Int]
    public var stopReason: StopReason
    /// Wall-clock seconds for the prompt (one batched forward).
    public var promptSeconds: Double
    /// Wall-clock seconds for the generated tokens (one forward each).
    public var generationSeconds: Double
    /// Generated tokens per second of generation time.
    public var tokensPerSecond: Double { generationSeconds > 0 ? Double(tokens.count) / generationSeconds : 0 }
}

/// Plain autoregressive decoding, as llama2.c's `generate`: the baseline every speculative decoder must match.
public struct AutoregressiveGenerator {
    public let model: Transformer

    public init(model: Transformer) { self.model = model }

    /// Throws a one-line `GenerationError` when `prompt` is empty, longer than the context, or holds an id outside the vocabulary.
    public func checkPrompt(_ prompt: [Int]) throws {
        let config = model.config
        guard !prompt.isEmpty else { throw GenerationError("the prompt is empty: give at least one token (BOS is 1)") }
        guard prompt.count <= config.maxSequenceLength else {
            throw GenerationError("the prompt has \(prompt.count) tokens but the model's context is \(config.maxSequenceLength)")
        }
        if let bad = prompt.first(where: { $0 < 0 || $0 >= config.vocabularySize }) {
            throw GenerationError("prompt token \(bad) is outside the vocabulary (0..<\(config.vocabularySize))")
        }
    }

    /// Generates up to `maxTokens` ids after `prompt` (which includes BOS if wanted).
    ///
    /// Stops when the model produces BOS (not included), after `maxTokens`, or when the
    /// context is full: as in run.c, the last token that fits may be produced but not fed
    /// back, so at most `maxSequenceLength - prompt.count + 1` tokens come out.
    /// `onToken` sees each id as soon as it is chosen.
    public func generate<S: TokenSampler>(
        prompt: [Int], maxTokens: Int, sampler: inout S, onToken: ((Int) -> Void)? = nil
    ) throws -> GenerationResult {
        try checkPrompt(prompt)
        guard maxTokens >= 0 else { throw GenerationError("max tokens must be at least 0, got \(maxTokens)") }
        let state = model.makeState()
        let clock = ContinuousClock()
        let start = clock.now
        var logits = model.prefill(prompt, state: state)
        let promptEnd = clock.now
        var tokens: [Int] = []
        var reason = StopReason.maxTokens
        while tokens.count < maxTokens {
            let next = sampler.sample(logits.baseAddress!, count: logits.count)
            if next == 1 { reason = .bos; break }
            tokens.append(next)
            onToken?(next)
            if tokens.count == maxTokens { break }
            if state.cache.count == state.cache.capacity { reason = .contextLimit; break }
            logits = model.forward(token: next, state: state)
        }
        let end = clock.now
        return GenerationResult(tokens: tokens, stopReason: reason,
                                promptSeconds: (promptEnd - start).seconds, generationSeconds: (end - promptEnd).seconds)
    }
}

extension Duration {
    /// This duration in seconds.
    public var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}
