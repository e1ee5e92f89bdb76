"""A second auto-configured C++ toolchain that compiles with Debian's clang-14.

Bazel 4's own @local_config_cc picks the compiler from $CC when it is configured, so
switching an output base between gcc and clang re-configures it and rebuilds everything.
This repository runs the same auto-configuration with clang forced, under another name:
`--crosstool_top=@local_config_clang//:toolchain` (see .bazelrc, config "fuzz") selects it
per build, and the gcc toolchain and its outputs stay as they are.

The rule is evaluated only when a build asks for it, so machines without clang-14 can
still build everything else.
"""

load("@bazel_tools//tools/cpp:cc_configure.bzl", "cc_autoconf_impl")

def _clang_autoconf_impl(repository_ctx):
    clang = repository_ctx.which("clang-14")
    if clang == None:
        clang = repository_ctx.which("clang")
    if clang == None:
        fail("clang-14 is not installed: run tools/setup.sh (package clang-14)")
    cc_autoconf_impl(repository_ctx, overriden_tools = {"gcc": str(clang)})

clang_autoconf = repository_rule(
    implementation = _clang_autoconf_impl,
    environ = ["PATH"],
    configure = True,
    local = True,
)
