// Small libllama driver for the HydraSim comparison.
//
//   llbench gen   MODEL N_GEN  ID ID ...      greedy (argmax) decode N_GEN tokens after the prompt ids; prints ids and text
//   llbench pass  MODEL PREFIX REPS N,N,...   decode a PREFIX-token prefix once, then for each n: time one llama_decode of
//                                             n more tokens (positions PREFIX..PREFIX+n-1, one sequence, logits for all n),
//                                             remove them from the KV cache, repeat REPS times (after 10 warm-up passes);
//                                             prints median / min / p90 in ms
//   llbench ar    MODEL N_GEN REPS           greedy autoregressive decoding of N_GEN tokens after BOS, one token a
//                                             llama_decode, argmax on the CPU; REPS runs; prints tok/s of each run
// Threads: LLB_THREADS (default 2). Flash attention: LLB_FA=auto|on|off (default auto, which resolves to on here).
#include "llama.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static llama_token argmax(const float * x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

static void quiet(enum ggml_log_level level, const char * text, void *) {
    if (level >= GGML_LOG_LEVEL_WARN || strstr(text, "Flash Attention") || strstr(text, "flash_attn")) fputs(text, stderr);
}

struct Env {
    llama_model * model = nullptr;
    llama_context * ctx = nullptr;
    const llama_vocab * vocab = nullptr;
    int n_vocab = 0;
};

static Env open_model(const char * path, int n_ctx, int n_batch) {
    Env e;
    llama_log_set(quiet, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    e.model = llama_model_load_from_file(path, mp);
    if (!e.model) { fprintf(stderr, "cannot load %s\n", path); exit(1); }
    llama_context_params cp = llama_context_default_params();
    const char * t = getenv("LLB_THREADS");
    int threads = t ? atoi(t) : 2;
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.n_ubatch = n_batch;
    cp.n_seq_max = 1;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.no_perf = true;
    const char * fa = getenv("LLB_FA");  // auto (default, resolves to enabled on CPU) | on | off
    if (fa) cp.flash_attn_type = !strcmp(fa, "on") ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                                : !strcmp(fa, "off") ? LLAMA_FLASH_ATTN_TYPE_DISABLED : LLAMA_FLASH_ATTN_TYPE_AUTO;
    e.ctx = llama_init_from_model(e.model, cp);
    if (!e.ctx) { fprintf(stderr, "cannot create context\n"); exit(1); }
    e.vocab = llama_model_get_vocab(e.model);
    e.n_vocab = llama_vocab_n_tokens(e.vocab);
    fprintf(stderr, "threads %d, n_ctx %u, n_batch %u, n_ubatch %u\n", threads, llama_n_ctx(e.ctx), llama_n_batch(e.ctx), llama_n_ubatch(e.ctx));
    return e;
}

// Decodes `toks` at positions pos.. in sequence 0; logits for all tokens when all_logits, else only the last.
static void decode(Env & e, const std::vector<llama_token> & toks, int pos, bool all_logits, llama_batch & b) {
    b.n_tokens = (int) toks.size();
    for (size_t i = 0; i < toks.size(); i++) {
        b.token[i] = toks[i];
        b.pos[i] = pos + (int) i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = all_logits || i + 1 == toks.size();
    }
    if (llama_decode(e.ctx, b) != 0) { fprintf(stderr, "llama_decode failed\n"); exit(1); }
    llama_synchronize(e.ctx);
}

int main(int argc, char ** argv) {
    if (argc < 4) { fprintf(stderr, "see the comment at the top of llbench.cpp\n"); return 2; }
    std::string mode = argv[1];
    const char * path = argv[2];

    if (mode == "gen") {
        int n_gen = atoi(argv[3]);
        std::vector<llama_token> prompt;
        for (int i = 4; i < argc; i++) prompt.push_back(atoi(argv[i]));
        Env e = open_model(path, 0, 512);
        llama_batch b = llama_batch_init(512, 0, 1);
        decode(e, prompt, 0, false, b);
        int pos = (int) prompt.size();
        std::vector<llama_token> out;
        std::string text;
        for (int i = 0; i < n_gen; i++) {
            llama_token t = argmax(llama_get_logits_ith(e.ctx, -1), e.n_vocab);
            out.push_back(t);
            char buf[256];
            int n = llama_token_to_piece(e.vocab, t, buf, sizeof buf, 0, true);
            if (n > 0) text.append(buf, n);
            if (i + 1 < n_gen) { decode(e, {t}, pos, false, b); pos++; }
        }
        for (size_t i = 0; i < out.size(); i++) printf("%s%d", i ? " " : "", out[i]);
        printf("\n---\n%s\n", text.c_str());
        return 0;
    }

    if (mode == "pass") {
        int prefix = atoi(argv[3]);
        int reps = atoi(argv[4]);
        std::vector<int> ns;
        for (char * s = strtok(argv[5], ","); s; s = strtok(nullptr, ",")) ns.push_back(atoi(s));
        int max_n = *std::max_element(ns.begin(), ns.end());
        Env e = open_model(path, 0, std::max(prefix, max_n));
        llama_batch b = llama_batch_init(std::max(prefix, max_n), 0, 1);
        std::vector<llama_token> pre(prefix);
        pre[0] = 1;
        for (int i = 1; i < prefix; i++) pre[i] = 3 + (i * 37) % (e.n_vocab - 3);
        decode(e, pre, 0, false, b);
        llama_memory_t mem = llama_get_memory(e.ctx);
        printf("n\tmedian_ms\tmin_ms\tp90_ms\n");
        for (int n : ns) {
            std::vector<llama_token> toks(n);
            for (int i = 0; i < n; i++) toks[i] = 3 + (i * 101) % (e.n_vocab - 3);
            std::vector<double> t;
            for (int r = 0; r < 10 + reps; r++) {
                double t0 = now_ms();
                decode(e, toks, prefix, true, b);
                double t1 = now_ms();
                if (!llama_memory_seq_rm(mem, 0, prefix, -1)) { fprintf(stderr, "seq_rm failed\n"); return 1; }
                if (r >= 10) t.push_back(t1 - t0);
            }
            std::sort(t.begin(), t.end());
            printf("%d\t%.3f\t%.3f\t%.3f\n", n, t[t.size() / 2], t[0], t[(size_t) (t.size() * 0.9)]);
            fflush(stdout);
        }
        return 0;
    }

    if (mode == "ar") {
        int n_gen = atoi(argv[3]);
        int reps = atoi(argv[4]);
        Env e = open_model(path, 0, 512);
        llama_batch b = llama_batch_init(512, 0, 1);
        llama_memory_t mem = llama_get_memory(e.ctx);
        for (int r = 0; r < reps + 1; r++) {
            llama_memory_clear(mem, true);
            double t0 = now_ms();
            llama_token t = 1;
            for (int i = 0; i < n_gen; i++) {
                decode(e, {t}, i, false, b);
                t = argmax(llama_get_logits_ith(e.ctx, -1), e.n_vocab);
            }
            double dt = now_ms() - t0;
            if (r > 0) printf("run %d: %d tokens in %.2f ms = %.1f tok/s (%.3f ms/token)\n", r, n_gen, dt, n_gen * 1000.0 / dt, dt / n_gen);
            else printf("warm-up: %.1f tok/s\n", n_gen * 1000.0 / dt);
        }
        return 0;
    }
    fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
}
