import Foundation
import LanguageModel
import Numerics

/// A tokenised split with the frozen base model's final hidden state at every position.
///
/// `hidden[t]` is `h_t`, the state after reading `tokens[t]` (from which the base predicts
/// `tokens[t+1]`). Computed once per split over consecutive windows of the base's context,
/// each window starting with an empty cache, and reused by every training step (reference §2:
/// the base is frozen).
public struct BaseHiddenStates: @unchecked Sendable {
    public let tokens: [Int32]
    public let hidden: Tensor   // (N, D)

    /// Pairs given tokens with given hidden states `(N, D)` (tests use this to misalign them on purpose).
    public init(tokens: [Int32], hidden: Tensor) {
        precondition(hidden.shape.first == tokens.count, "one hidden row per token")
        self.tokens = tokens
        self.hidden = hidden
    }

    /// Runs `model` over `tokens` in windows of `window` tokens (default: its context), windows spread over the cores.
    public init(model: Transformer, tokens: [Int32], window: Int? = nil, progress: ((Int, Int) -> Void)? = nil) {
        let T = window ?? model.config.maxSequenceLength
        let D = model.config.dim
        self.tokens = tokens
        hidden = Tensor(zeros: [tokens.count, D])
        let windows = (tokens.count + T - 1) / T
        let out = hidden.pointer
        let lock = NSLock()
        var done = 0
        Parallel.chunks(windows) { range in
            let state = model.makeState(cacheCapacity: T)
            for w in range {
                let start = w * T, end = min(start + T, tokens.count)
                state.cache.truncate(to: 0)
                let ids = tokens[start..<end].map(Int.init)
                let batch = model.forward(tokens: ids, positions: Array(0..<ids.count), mask: .causal(prefix: 0, count: ids.count), state: state)
                for i in 0..<ids.count { (out + (start + i) * D).update(from: batch.hidden(i).baseAddress!, count: D) }
                lock.lock()
                done += 1
                let d = done
                lock.unlock()
                progress?(d, windows)
            }
        }
    }
}

/// Hyper-parameters of a draft-head training run.
public struct HeadTrainingSettings: Codable, Equatable, Sendable {
    public var kind: DraftHeadKind
    public var heads: Int
    public var blocks: Int
    public var batchSize: Int
    public var steps: Int
    public var optimizer: OptimizerSettings
    public var seed: UInt64
    public var recipe: TrainingRecipe
    /// Train a Hydra++ prefix-attention layer under the heads (batches are then whole windows of the base context).
    public var prefixAttention: Bool
    /// The heads' output layer is the base model's classifier, frozen (`DraftHeadsConfig.sharedClassifier`).
    public var sharedClassifier: Bool

    public init(kind: DraftHeadKind, heads: Int = 4, blocks: Int = 1, batchSize: Int = 256, steps: Int = 1000,
                optimizer: OptimizerSettings = OptimizerSettings(), seed: UInt64 = 1, recipe: TrainingRecipe = .plain,
                prefixAttention: Bool = false, sharedClassifier: Bool = false) {
        self.sharedClassifier = sharedClassifier
        self.recipe = recipe
        self.prefixAttention = prefixAttention
        self.kind = kind
        self.heads = heads
        self.blocks = blocks
        self.batchSize = batchSize
        self.steps = steps
        self.optimizer = optimizer
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case kind, heads, blocks, batchSize, steps, optimizer, seed, recipe, prefixAttention, sharedClassifier
    }

    /// Decodes settings saved before `sharedClassifier` existed as not sharing.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(DraftHeadKind.self, forKey: .kind)
        heads = try c.decode(Int.self, forKey: .heads)
        blocks = try c.decode(Int.self, forKey: .blocks)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        steps = try c.decode(Int.self, forKey: .steps)
        optimizer = try c.decode(OptimizerSettings.self, forKey: .optimizer)
        seed = try c.decode(UInt64.self, forKey: .seed)
        recipe = try c.decode(TrainingRecipe.self, forKey: .recipe)
        prefixAttention = try c.decode(Bool.self, forKey: .prefixAttention)
        sharedClassifier = try c.decodeIfPresent(Bool.self, forKey: .sharedClassifier) ?? false
    }
}

/// Trains K draft heads on a frozen base with teacher forcing (reference §2): head k at position t
/// reads `h_t` (and, for Hydra, `E(x_{t+1}), ..., E(x_{t+k})`, the true tokens) and is scored
/// against `x_{t+k+1}`, or, with the teacher recipe, against the base model's own distribution
/// for that token, `softmax(W_cls h_{t+k})` (soft cross-entropy = KL(p_base ‖ q_head) + const). The loss is the unweighted sum of the heads' mean cross-entropies
/// (*choice*: heads share no parameters and Adam is invariant to a per-head loss scale, so
/// Medusa's 0.8^k weights would change little but the clipping).
public final class HeadTrainer {
    public let settings: HeadTrainingSettings
    public let heads: DraftHeadSet
    public let grads: DraftHeadSet
    public let optimizer: AdamW
    let embedding: Tensor
    let classifier: Tensor
    let data: BaseHiddenStates
    var random: XorShiftRandom
    public private(set) var step = 0
    let inputs: [Tensor]            // per head: (B, inputWidth)
    let activations: [HeadActivations]
    let scratch: HeadScratch
    let teacherHidden: Tensor       // (B, D) h_{t+k}
    let teacherProbs: Tensor        // (B, V) the base's distribution for x_{t+k+1}
    let prefixPass: PrefixAttentionPass?
    let dInput: Tensor              // (B, (K+1)·D) a head's input gradient (prefix attention only)
    let dStates: Tensor             // (B, D) gradient of the prefix layer's outputs

    public init(settings: HeadTrainingSettings, base: TransformerWeights, data: BaseHiddenStates, heads: DraftHeadSet? = nil) throws {
        guard data.tokens.count > settings.heads + 2 else {
            throw TrainingError("the training split (\(data.tokens.count) tokens) is too short for \(settings.heads) heads")
        }
        self.settings = settings
        self.heads = heads ?? DraftHeadSet(kind: settings.kind, heads: settings.heads, blocks: settings.blocks, base: base, recipe: settings.recipe,
                                           prefixAttention: settings.prefixAttention, seed: settings.seed,
                                           sharedClassifier: settings.sharedClassifier)
        let window = base.config.maxSequenceLength
        if settings.prefixAttention {
            guard settings.batchSize % window == 0 else {
                throw TrainingError("with prefix attention the batch must be whole windows of the base context: a multiple of \(window), got \(settings.batchSize)")
            }
            guard data.tokens.count > window + settings.heads + 2 else {
                throw TrainingError("the training split (\(data.tokens.count) tokens) is shorter than one prefix-attention window (\(window))")
            }
        }
        prefixPass = self.heads.prefix.map { PrefixAttentionPass(config: $0.config, windows: settings.batchSize / window, length: window) }
        grads = self.heads.zerosLike()
        optimizer = AdamW(parameters: self.heads, weightDecay: settings.optimizer.weightDecay)
        embedding = base.tokenEmbedding
        classifier = base.classifier
        self.data = data
        random = XorShiftRandom(seed: settings.seed)
        let B = settings.batchSize
        inputs = self.heads.heads.map { Tensor(zeros: [B, $0.inputWidth]) }
        activations = self.heads.heads.map { HeadActivations(head: $0, rows: B) }
        scratch = HeadScratch(dim: base.config.dim, rows: B)
        teacherHidden = Tensor(zeros: [B, base.config.dim])
        teacherProbs = Tensor(zeros: [B, base.config.vocabularySize])
        dInput = Tensor(zeros: [B, self.heads.heads.map(\.inputWidth).max()!])
        dStates = Tensor(zeros: [B, base.config.dim])
    }

    /// Positions `t` usable for every head: `t + K + 1 < N`.
    var positions: Int { data.tokens.count - settings.heads - 1 }

    /// Fills head k's input rows and targets `x_{t+k+1+shift}` for positions `ts` (teacher forcing).
    /// `states`, when given, holds row r's state (the prefix layer's output) in place of `h_t`.
    static func batch(head k: Int, positions ts: [Int], data: BaseHiddenStates, heads: DraftHeadSet, embedding: Tensor,
                      into x: Tensor, targetShift: Int = 0, states: UnsafePointer<Float>? = nil) -> [Int32] {
        let width = heads.heads[k - 1].inputWidth, D = heads.config.dim
        var targets: [Int32] = []
        targets.reserveCapacity(ts.count)
        for (r, t) in ts.enumerated() {
            let path = (1...k).map { Int(data.tokens[t + $0]) }      // x_{t+1} (root) ... x_{t+k}
            let h = states.map { $0 + r * D } ?? UnsafePointer(data.hidden.pointer + t * D)
            heads.assembleInput(head: k, hidden: h, path: path, embedding: embedding, into: x.pointer + r * width)
            targets.append(data.tokens[t + k + 1 + targetShift])
        }
        return targets
    }

    /// One optimisation step on a random batch of positions; returns the summed loss over heads.
    @discardableResult
    public func trainStep() -> StepReport {
        let recipe = settings.recipe
        let D = heads.config.dim, V = heads.config.vocabularySize
        var ts: [Int]
        var states: UnsafePointer<Float>? = nil
        if let pass = prefixPass, let prefix = heads.prefix {
            // Whole windows of consecutive positions: the prefix layer runs causally over each.
            ts = []
            for w in 0..<pass.B {
                let start = Int(random.next() % UInt64(positions - pass.T))
                ts += start..<start + pass.T
                pass.setWindow(w, from: data.hidden.pointer + start * D)
            }
            pass.forward(prefix)
            states = UnsafePointer(pass.output.pointer)
            dStates.zero()
        } else {
            ts = (0..<settings.batchSize).map { _ in Int(random.next() % UInt64(positions)) }
        }
        let B = ts.count
        for (_, g) in grads.namedTensors { g.zero() }
        var total: Float = 0
        for (i, head) in heads.heads.enumerated() {
            let k = i + 1
            let x = inputs[i]
            let targets = Self.batch(head: k, positions: ts, data: data, heads: heads, embedding: embedding, into: x, states: states)
            if recipe.noise > 0 && heads.config.kind.isSequential {
                // Input noise on the token embeddings only: U(-1,1) · alpha / sqrt(k·D).
                let scale = recipe.noise / Float(k * D).squareRoot()
                for r in 0..<B {
                    let row = x.pointer + r * head.inputWidth
                    for j in D..<head.inputWidth { row[j] += (2 * random.nextFloat() - 1) * scale }
                }
            }
            withUnsafeMutablePointer(to: &random) { rng in
                head.forward(x.pointer, rows: B, into: activations[i], dropout: recipe.dropout > 0 ? (recipe.dropout, rng) : nil)
            }
            let logits = activations[i].logits.pointer
            if recipe.teacher {
                for (r, t) in ts.enumerated() { (teacherHidden.pointer + r * D).update(from: data.hidden.pointer + (t + k) * D, count: D) }
                LayerPasses.matmulForward(teacherProbs.pointer, teacherHidden.pointer, classifier.pointer, n: B, in: D, out: V)
                for r in 0..<B { Ops.softmax(teacherProbs.pointer + r * V, n: V) }
                total += SoftCrossEntropy.forward(logits, teacher: teacherProbs.pointer, rows: B, vocabularySize: V)
                SoftCrossEntropy.backward(logits, teacher: teacherProbs.pointer, rows: B, vocabularySize: V)
            } else {
                total += Float(LayerPasses.crossEntropyForward(logits, targets: targets, vocabularySize: V) / Double(B))
                LayerPasses.crossEntropyBackward(logits, targets: targets, vocabularySize: V)
            }
            head.backward(x.pointer, rows: B, acts: activations[i], dlogits: logits, grads: grads.heads[i],
                          dx: states == nil ? nil : dInput.pointer, scratch: scratch)
            if states != nil {
                // The state is the first D columns of the head's input.
                for r in 0..<B { Ops.add(dStates.pointer + r * D, dInput.pointer + r * head.inputWidth, n: D) }
            }
        }
        if let pass = prefixPass, let prefix = heads.prefix, let gPrefix = grads.prefix {
            pass.backward(prefix, dOutput: dStates.pointer, grads: gPrefix)
        }
        let (lr, norm) = optimizer.step(heads, grads: grads, settings: settings.optimizer, step: step, of: settings.steps)
        step += 1
        return StepReport(step: step, loss: total, learningRate: lr, gradientNorm: norm)
    }

    /// Mean cross-entropy of each head on `data` (teacher forcing, every usable position or the first `limit`).
    public func validationLoss(_ base: BaseHiddenStates, limit: Int? = nil) -> [Float] {
        let data = heads.headStates(base, window: prefixPass?.T ?? 1)
        let count = min(data.tokens.count - settings.heads - 1, limit ?? Int.max)
        let chunk = settings.batchSize
        var totals = [Double](repeating: 0, count: heads.heads.count)
        for start in stride(from: 0, to: count, by: chunk) {
            let ts = Array(start..<min(start + chunk, count))
            for (i, head) in heads.heads.enumerated() {
                let targets = Self.batch(head: i + 1, positions: ts, data: data, heads: heads, embedding: embedding, into: inputs[i])
                head.forward(inputs[i].pointer, rows: ts.count, into: activations[i])
                totals[i] += LayerPasses.crossEntropyForward(activations[i].logits.pointer, targets: targets, vocabularySize: head.vocabularySize)
            }
        }
        return totals.map { Float($0 / Double(max(count, 1))) }
    }

    // MARK: State

    struct StateHeader: Codable {
        var settings: HeadTrainingSettings
        var config: DraftHeadsConfig
        var step: Int
        var optimizerStep: Int
        var randomState: UInt64
    }

    var stateTensors: [Tensor] { heads.namedTensors.map(\.tensor) + optimizer.stateTensors }

    /// Writes the training state (heads, AdamW moments, step, random state) atomically.
    public func saveState(to path: String) throws {
        let header = StateHeader(settings: settings, config: heads.config, step: step, optimizerStep: optimizer.step, randomState: random.state)
        try TrainingStateFile.write(header: header, tensors: stateTensors, to: path)
    }

    /// Continues a head-training run; `settings` and the base model must be those of the saved run.
    public static func resume(from path: String, settings: HeadTrainingSettings, base: TransformerWeights, data: BaseHiddenStates) throws -> HeadTrainer {
        let (header, load) = try TrainingStateFile.read(path, as: StateHeader.self)
        if header.settings != settings {
            throw TrainingError("\(path): checkpoint from another configuration: \(TrainingStateFile.differences(header.settings, settings)); pass the same options as the interrupted run")
        }
        try DraftHeadsFile.check(header.config, fits: base, path: path)
        let heads = DraftHeadSet(config: header.config, baseClassifier: header.config.sharedClassifier ? base.classifier : nil)
        try DraftHeadsFile.check(heads, fits: base, path: path)
        let trainer = try HeadTrainer(settings: settings, base: base, data: data, heads: heads)
        try load(trainer.stateTensors)
        trainer.step = header.step
        trainer.optimizer.step = header.optimizerStep
        trainer.random = XorShiftRandom(state: header.randomState)
        return trainer
    }
}

/// Cross-entropy against a soft target distribution (knowledge distillation, Hinton et al. 2015).
public enum SoftCrossEntropy {
    /// Forward: turns `logits (n, V)` into probabilities `q` in place; returns the mean of `−Σ_v p_v log q_v`.
    public static func forward(_ logits: UnsafeMutablePointer<Float>, teacher p: UnsafePointer<Float>, rows n: Int, vocabularySize V: Int) -> Float {
        var total: Double = 0
        for r in 0..<n {
            let q = logits + r * V, pr = p + r * V
            Ops.softmax(q, n: V)
            for v in 0..<V where pr[v] > 0 { total -= Double(pr[v]) * log(Double(max(q[v], Float.leastNormalMagnitude))) }
        }
        return Float(total / Double(n))
    }

    /// Backward of `mean_r −Σ_v p_v log softmax(z_r)_v`: `dz = (q − p) / n`, in place on `q`.
    public static func backward(_ q: UnsafeMutablePointer<Float>, teacher p: UnsafePointer<Float>, rows n: Int, vocabularySize V: Int) {
        let scale = 1 / Float(n)
        for i in 0..<n * V { q[i] = (q[i] - p[i]) * scale }
    }
}

/// Teacher-forced top-1..top-R accuracy of each head (the shape of Medusa's published table), and how often
/// whole rank paths are right together.
public struct HeadAccuracy: Codable, Equatable, Sendable {
    /// `topK[k-1][r-1]`: fraction of positions where head k's target is among its r most likely tokens.
    public var topK: [[Double]]
    /// Positions evaluated.
    public var positions: Int
    /// Joint acceptance of rank paths, sorted by (length, lexicographic): for path `[r1, ..., rk]` the fraction of
    /// positions where head j's target is exactly its rank-`r_j` guess for every j <= k. With greedy verification on
    /// the base model's own greedy text this is the chance that the tree node of that path is accepted, dependence
    /// between heads included (a Hydra head that sees a right guess is right more often). Paths right at fewer than
    /// `PathAcceptance.minimumCount` positions are left out.
    public var paths: [PathAcceptance]
    /// The rank of each head's target at every evaluated position, in text order: `sequences[s][j][k-1]` is head k's
    /// rank at position j of contiguous run s (`-1`: outside its top R). Decoding can be replayed on it exactly (a step
    /// at position t accepts the deepest tree node whose path is the ranks' prefix there and moves past what it emits),
    /// which the per-position averages cannot do: long accepted runs are crossed in few steps.
    public var sequences: [[[Int]]]

    /// One rank path and the fraction of positions where all of it is right.
    public struct PathAcceptance: Codable, Equatable, Sendable {
        public var path: [Int]
        public var accepted: Double
        /// Fewest positions at which a path must be right to be listed (one position is noise, not a statistic).
        public static let minimumCount = 2

        public init(path: [Int], accepted: Double) {
            self.path = path
            self.accepted = accepted
        }
    }

    public init(topK: [[Double]], positions: Int, paths: [PathAcceptance] = [], sequences: [[[Int]]] = []) {
        self.topK = topK
        self.positions = positions
        self.paths = paths
        self.sequences = sequences
    }

    /// How many positions of `sequences` (runs of per-head ranks, -1 a miss) have ranks that begin with each path: every
    /// prefix of a position's ranks up to its first miss is counted once.
    public static func pathCounts(_ sequences: [[[Int]]]) -> [[Int]: Int] {
        var counts: [[Int]: Int] = [:]
        var path: [Int] = []
        for run in sequences {
            for ranks in run {
                path.removeAll(keepingCapacity: true)
                for r in ranks {
                    guard r >= 0 else { break }
                    path.append(r)
                    counts[path, default: 0] += 1
                }
            }
        }
        return counts
    }

    enum CodingKeys: String, CodingKey { case topK, positions, paths, sequences }

    /// Decodes a table written before `paths` existed too (no joint figures).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        topK = try c.decode([[Double]].self, forKey: .topK)
        positions = try c.decode(Int.self, forKey: .positions)
        paths = try c.decodeIfPresent([PathAcceptance].self, forKey: .paths) ?? []
        sequences = try c.decodeIfPresent([[[Int]]].self, forKey: .sequences) ?? []
    }

    /// Evaluates `heads` on `data` (every position with all K targets available, or the first `limit`).
    /// `targetShift` scores head k against `x_{t+k+1+shift}` instead: a diagnostic for alignment
    /// (a correctly trained head scores high only at shift 0).
    /// With `segment`, `data` is a concatenation of independent sequences of that length (each run
    /// through the base on its own): only positions whose targets lie in the same sequence count, and not the
    /// first `firstPositions` of each sequence (a prompt whose next tokens decoding never drafts).
    public static func measure(_ heads: DraftHeadSet, data base: BaseHiddenStates, embedding: Tensor, top: Int = 10, limit: Int? = nil,
                               targetShift: Int = 0, segment: Int? = nil, skipping firstPositions: Int = 0) -> HeadAccuracy {
        let K = heads.config.heads
        let data = heads.headStates(base, window: segment ?? heads.config.prefix?.maxSequenceLength ?? 1)
        precondition(targetShift >= -1, "a target before the head's own input makes no sense")
        let reach = K + 1 + max(targetShift, 0)
        var usable = Array(0..<max(data.tokens.count - reach, 0))
        if let segment { usable = usable.filter { $0 % segment + reach < segment && $0 % segment >= firstPositions } }
        if let limit { usable = Array(usable.prefix(limit)) }
        let count = usable.count
        let chunk = 512
        var hits = [[Int]](repeating: [Int](repeating: 0, count: top), count: K)
        // ranks[k][j]: head k+1's rank of its target at usable position j (`top` when outside its top `top`).
        var ranks = [[Int]](repeating: [Int](repeating: top, count: count), count: K)
        for (i, head) in heads.heads.enumerated() {
            let x = Tensor(zeros: [chunk, head.inputWidth])
            let acts = HeadActivations(head: head, rows: chunk)
            for start in stride(from: 0, to: count, by: chunk) {
                let ts = Array(usable[start..<min(start + chunk, count)])
                let targets = HeadTrainer.batch(head: i + 1, positions: ts, data: data, heads: heads, embedding: embedding, into: x,
                                                targetShift: targetShift)
                head.forward(x.pointer, rows: ts.count, into: acts)
                for r in 0..<ts.count {
                    let row = acts.logits.pointer + r * head.vocabularySize
                    let target = row[Int(targets[r])]
                    // Rank = number of tokens scoring strictly higher (ties count in the target's favour).
                    var higher = 0
                    for v in 0..<head.vocabularySize where row[v] > target { higher += 1 }
                    if higher < top { for j in higher..<top { hits[i][j] += 1 } }
                    ranks[i][start + r] = min(higher, top)
                }
            }
        }
        // Runs of consecutive positions (one per independent sequence), each position's ranks with misses as -1.
        var sequences: [[[Int]]] = []
        for j in 0..<count {
            if j == 0 || usable[j] != usable[j - 1] + 1 { sequences.append([]) }
            sequences[sequences.count - 1].append((0..<K).map { ranks[$0][j] < top ? ranks[$0][j] : -1 })
        }
        let paths = pathCounts(sequences).filter { $0.value >= PathAcceptance.minimumCount }
            .map { PathAcceptance(path: $0.key, accepted: Double($0.value) / Double(max(count, 1))) }
            .sorted { $0.path.count != $1.path.count ? $0.path.count < $1.path.count : $0.path.lexicographicallyPrecedes($1.path) }
        return HeadAccuracy(topK: hits.map { $0.map { Double($0) / Double(max(count, 1)) } }, positions: count, paths: paths,
                            sequences: sequences)
    }
}
