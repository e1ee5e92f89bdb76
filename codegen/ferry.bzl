"""ferry_cc_library: .proto files to protobuf messages and Ferry stubs in one cc_library.

Example (BUILD):
    load("//codegen:ferry.bzl", "ferry_cc_library")

    ferry_cc_library(
        name = "kv",
        srcs = ["kv.proto"],         # may import google/protobuf/*.proto
        deps = ["//common:types"],   # other ferry_cc_library targets kv.proto imports
        grpc = True,                 # also kv.grpc.pb.h, for the gRPC benchmark
    )

    cc_binary(name = "server", srcs = ["server.cc"], deps = [":kv"])

server.cc then has `#include "path/to/kv.ferry.h"` (and "path/to/kv.pb.h",
"path/to/kv.grpc.pb.h"): the generated files sit next to kv.proto in the output tree,
so they are included by their workspace-relative paths, as the .proto imports are.

How it works: a rule runs the system protoc once per library with --cpp_out,
--ferry_out (//codegen:protoc-gen-ferry) and, with grpc = True, --grpc_out; a
cc_library compiles what it wrote. Imports are resolved against the workspace root (so a
.proto imports another by its workspace path), the output tree for generated .proto
files, and the system's well-known types. Each library's .proto files travel to the
libraries that depend on it in FerryProtoInfo, so protoc sees every file it imports.
"""

FerryProtoInfo = provider(
    doc = "The .proto files of a ferry_cc_library and of everything it depends on.",
    fields = {
        "transitive_sources": "depset of .proto Files",
    },
)

# What the code generation rule learns about one entry of `deps`, which names the
# user-facing cc_library: its generation rule is found among that library's hdrs.
_FerryDepInfo = provider(
    doc = "Internal: FerryProtoInfo of a ferry_cc_library, seen from its cc_library.",
    fields = {
        "transitive_sources": "depset of .proto Files, or None if not a ferry_cc_library",
    },
)

def _ferry_dep_aspect_impl(target, ctx):
    infos = [h[FerryProtoInfo] for h in getattr(ctx.rule.attr, "hdrs", []) if FerryProtoInfo in h]
    if not infos:
        return [_FerryDepInfo(transitive_sources = None)]
    return [_FerryDepInfo(transitive_sources = depset(transitive = [i.transitive_sources for i in infos]))]

_ferry_dep_aspect = aspect(implementation = _ferry_dep_aspect_impl)

def _include_root(f):
    """The --proto_path entry under which `f` has its import path."""
    parts = [p for p in [f.root.path, f.owner.workspace_root] if p]
    return "/".join(parts) if parts else "."

def _import_path(f):
    root = _include_root(f)
    return f.path if root == "." else f.path[len(root) + 1:]

def _well_known_root(files):
    """The directory holding google/protobuf/*.proto, e.g. external/system/include."""
    for f in files:
        suffix = "/google/protobuf/" + f.basename
        if f.path.endswith(suffix):
            return f.path[:-len(suffix)]
    fail("no google/protobuf/*.proto among the well-known protos")

def _ferry_proto_gen_impl(ctx):
    for src in ctx.files.srcs:
        if src.owner.workspace_root != ctx.label.workspace_root or src.owner.package != ctx.label.package:
            fail("%s: .proto sources must be in this package, not %s; give that package its own ferry_cc_library" % (ctx.label, src.owner))

    dep_sources = []
    for dep in ctx.attr.deps:
        sources = dep[_FerryDepInfo].transitive_sources
        if sources == None:
            fail("%s: dependency %s is not a ferry_cc_library" % (ctx.label, dep.label))
        dep_sources.append(sources)
    transitive_sources = depset(ctx.files.srcs, transitive = dep_sources)

    # "." first: ordinary workspace files are found there, under their workspace paths.
    roots = {".": True}
    for f in transitive_sources.to_list():
        roots[_include_root(f)] = True
    roots[_well_known_root(ctx.files._well_known_protos)] = True

    # protoc writes foo.pb.h to OUT/<import path of foo.proto>; OUT is chosen so that
    # this is where the declared output lies.
    out_dir = ctx.bin_dir.path
    if ctx.label.workspace_root:
        out_dir += "/" + ctx.label.workspace_root

    header_suffixes = [".pb.h", ".ferry.h"] + ([".grpc.pb.h"] if ctx.attr.grpc else [])
    source_suffixes = [".pb.cc", ".ferry.cc"] + ([".grpc.pb.cc"] if ctx.attr.grpc else [])
    package_prefix = ctx.label.package + "/" if ctx.label.package else ""
    headers = []
    sources = []
    ferry_files = []
    for src in ctx.files.srcs:
        import_path = _import_path(src)
        if not import_path.startswith(package_prefix):
            fail("%s: cannot place the outputs of %s" % (ctx.label, src.path))
        stem = import_path[len(package_prefix):-len(".proto")]
        outs = {suffix: ctx.actions.declare_file(stem + suffix) for suffix in header_suffixes + source_suffixes}
        headers += [outs[suffix] for suffix in header_suffixes]
        sources += [outs[suffix] for suffix in source_suffixes]
        ferry_files += [outs[".ferry.h"], outs[".ferry.cc"]]

    args = ctx.actions.args()
    for root in roots.keys():
        args.add("--proto_path=" + root)
    args.add("--cpp_out=" + out_dir)
    args.add("--plugin=protoc-gen-ferry=" + ctx.executable._ferry_plugin.path)
    args.add("--ferry_out=" + out_dir)
    tools = [ctx.executable._ferry_plugin]
    if ctx.attr.grpc:
        args.add("--plugin=protoc-gen-grpc=" + ctx.executable._grpc_plugin.path)
        # gRPC's plugin would also emit `class Foo` in Foo's package namespace: the
        # same class as Ferry's, which breaks the build (or the ODR) of any program with
        # both. Its services go into a nested namespace instead: a::b::grpc_gen::Foo.
        args.add("--grpc_out=services_namespace=grpc_gen:" + out_dir)
        tools.append(ctx.executable._grpc_plugin)
    args.add_all([_import_path(f) for f in ctx.files.srcs])

    ctx.actions.run(
        executable = ctx.executable._protoc,
        arguments = [args],
        inputs = depset(ctx.files._well_known_protos, transitive = [transitive_sources]),
        tools = tools,
        outputs = headers + sources,
        mnemonic = "FerryProtoc",
        progress_message = "Generating protobuf and Ferry code for %s" % ctx.label,
    )

    return [
        # Only headers: the cc_library lists this target in hdrs, which is also where
        # _ferry_dep_aspect looks for FerryProtoInfo.
        DefaultInfo(files = depset(headers)),
        OutputGroupInfo(
            sources = depset(sources),
            ferry = depset(ferry_files),
        ),
        FerryProtoInfo(transitive_sources = transitive_sources),
    ]

_ferry_proto_gen = rule(
    implementation = _ferry_proto_gen_impl,
    attrs = {
        "srcs": attr.label_list(allow_files = [".proto"], mandatory = True, allow_empty = False),
        "deps": attr.label_list(aspects = [_ferry_dep_aspect]),
        "grpc": attr.bool(default = False),
        "_protoc": attr.label(
            default = Label("@system//:bin/protoc"),
            executable = True,
            allow_single_file = True,
            cfg = "exec",
        ),
        "_ferry_plugin": attr.label(
            default = Label("//codegen:protoc-gen-ferry"),
            executable = True,
            cfg = "exec",
        ),
        "_grpc_plugin": attr.label(
            default = Label("@system//:bin/grpc_cpp_plugin"),
            executable = True,
            allow_single_file = True,
            cfg = "exec",
        ),
        "_well_known_protos": attr.label(
            default = Label("@system//:well_known_protos"),
            allow_files = True,
        ),
    },
)

def ferry_cc_library(name, srcs, deps = [], grpc = False, visibility = None, **kwargs):
    """Protobuf messages and Ferry stubs (and gRPC stubs if grpc) for .proto files.

    Args:
      name: the cc_library to depend on.
      srcs: .proto files of this package.
      deps: ferry_cc_library targets of the files that srcs import (well-known types
        need nothing).
      grpc: also generate gRPC's C++ stubs (foo.grpc.pb.h) and depend on gRPC.
      visibility: of the cc_library; the intermediate targets are private.
      **kwargs: passed to every target, e.g. testonly, tags.
    """
    gen = name + "_ferry_gen"
    _ferry_proto_gen(
        name = gen,
        srcs = srcs,
        deps = deps,
        grpc = grpc,
        visibility = ["//visibility:private"],
        **kwargs
    )
    native.filegroup(
        name = name + "_ferry_srcs",
        srcs = [":" + gen],
        output_group = "sources",
        visibility = ["//visibility:private"],
        **kwargs
    )
    native.cc_library(
        name = name,
        srcs = [":" + name + "_ferry_srcs"],
        hdrs = [":" + gen],
        deps = deps + [
            Label("//runtime:channel"),
            Label("//runtime:service"),
            Label("@system//:absl"),
            Label("@system//:protobuf"),
        ] + ([Label("@system//:grpcpp")] if grpc else []),
        visibility = visibility,
        **kwargs
    )
