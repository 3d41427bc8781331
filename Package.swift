// swift-tools-version:6.0
import Foundation
import PackageDescription

// Hot loops live in Runtime. Release builds use plain -O everywhere, so preconditions and overflow
// checks run for users and in the (release) test suite; -Ounchecked saved about 1.5 % CPU time on
// `cnnc bench examples/mnist.yaml` (README, "Checked builds").
// CI runs `swift test -c release -Xswiftc -enable-testing` (see README.md).

// Runtime's kernels are built for the build machine's vector width (README "CPU features"):
// AVX-512F → skylake-avx512, AVX2 + FMA → haswell, else baseline x86-64. CNNC_TARGET_CPU=<cpu>
// overrides it (CNNC_TARGET_CPU=x86-64 for a binary that runs on any x86-64).
func runtimeTargetCPU() -> String? {
    if let chosen = ProcessInfo.processInfo.environment["CNNC_TARGET_CPU"], !chosen.isEmpty { return chosen }
    #if arch(x86_64) && os(Linux)
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
    let flags = Set(line.split(separator: " ").map(String.init))
    if flags.contains("avx512f") { return "skylake-avx512" }
    if flags.contains("avx2") && flags.contains("fma") { return "haswell" }
    #endif
    return nil
}
// With a target that has FMA, the kernels' multiply-adds are fused instructions (`multiplyAdd` in
// Runtime/Kernels/Vector.swift, compiled with CNNC_FMA); without one, `addingProduct` would be a
// call to `fmaf` per element, so they stay a multiply and an add.
let cpusWithFMA: Set<String> = ["haswell", "broadwell", "skylake", "skylake-avx512", "cascadelake", "cooperlake",
                                "icelake-client", "icelake-server", "tigerlake", "sapphirerapids", "alderlake",
                                "znver1", "znver2", "znver3", "znver4", "x86-64-v3", "x86-64-v4"]
let vectorWidth: [SwiftSetting] = runtimeTargetCPU().map { cpu in
    [.unsafeFlags(["-target-cpu", cpu])] + (cpusWithFMA.contains(cpu) ? [.define("CNNC_FMA")] : [])
} ?? []

let package = Package(
    name: "cnnc",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cnnc", targets: ["cnnc"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"]), .brew(["libyaml"])]
        ),
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // libcurl for downloads, opened with dlopen on first use, not linked (see its shim.h).
        .systemLibrary(name: "CCurl"),
        .target(name: "Spec", dependencies: ["CYAML"]),
        .target(name: "Graph", dependencies: ["Spec"]),
        .target(name: "Runtime", dependencies: ["Graph", "CBLAS", "CZlib", "CCurl"], swiftSettings: vectorWidth),
        .executableTarget(
            name: "cnnc",
            dependencies: ["Runtime", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            // The Swift runtime and Foundation linked in: `cnnc check` starts in a third of the
            // time, since the loader no longer resolves ~20 Swift libraries' symbols per run.
            // (Compiling with the flag too makes the objects ask for static Foundation's parts.)
            swiftSettings: [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux]))],
            linkerSettings: [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux]))]
        ),
        .testTarget(name: "SpecTests", dependencies: ["Spec"]),
        .testTarget(name: "GraphTests", dependencies: ["Graph"]),
        // Linux only: glibc's __libc_* entry points back the counting malloc.
        .target(name: "MallocCounter", path: "Tests/MallocCounter"),
        // Fixtures: PyTorch's numbers (scripts/make-fixtures), read by path, not bundled.
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "MallocCounter"], exclude: ["Fixtures"]),
        .testTarget(name: "cnncTests", dependencies: ["Runtime"]),
    ],
    swiftLanguageModes: [.v5]
)
