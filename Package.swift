// swift-tools-version:6.0
import PackageDescription

// Hot loops live in Runtime; they are built with -Ounchecked in release builds.
// CI runs `swift test -c release -Xswiftc -enable-testing` (see README.md).
let optimized: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

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
        .target(name: "Runtime", dependencies: ["Graph", "CBLAS", "CZlib", "CCurl"], swiftSettings: optimized),
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
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "MallocCounter"]),
        .testTarget(name: "cnncTests", dependencies: ["Runtime"]),
    ],
    swiftLanguageModes: [.v5]
)
