"""ferry_fuzz_test: one BUILD stanza per libFuzzer target.

    load("//fuzz:fuzz.bzl", "ferry_fuzz_test")

    ferry_fuzz_test(
        name = "mq_reassembly_fuzzer",          # corpus: <package>/corpus/<name>/
        srcs = ["mq_reassembly_fuzzer.cc"],     # defines LLVMFuzzerTestOneInput
        deps = ["//transports/mq:reassembly"],
    )

The same target builds two ways:
  - ordinary builds (gcc; --config=asan/tsan too): a cc_test that runs every file of the
    seed corpus through LLVMFuzzerTestOneInput once (fuzz/replay_main.cc), so the seeds are
    regression tests in the plain, ASan and TSan suites;
  - --config=fuzz (clang-14, ASan + UBSan + libFuzzer): the binary is a libFuzzer fuzzer.
    test.sh (stage "fuzz") finds every target tagged "ferry_fuzz" with bazel query and runs
    each for a fixed time; docs/quality-gates.md says how to run one longer.
"""

def ferry_fuzz_test(name, srcs, deps = [], corpus = None, size = "small", tags = [], **kwargs):
    corpus_dir = corpus if corpus else "corpus/" + name
    native.cc_test(
        name = name,
        srcs = srcs,
        size = size,
        deps = deps + select({
            "//fuzz:libfuzzer": [],
            "//conditions:default": ["//fuzz:replay_main"],
        }),
        linkopts = select({
            "//fuzz:libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        data = native.glob([corpus_dir + "/**"], allow_empty = False),
        # The replay main reads this directory (relative to the runfiles root); libFuzzer
        # treats it as a corpus directory to start from.
        args = [native.package_name() + "/" + corpus_dir],
        tags = tags + ["ferry_fuzz"],
        **kwargs
    )
