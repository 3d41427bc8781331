// swift-tools-version:6.0
import PackageDescription

// Hot loops live in Runtime. Release builds use plain -O everywhere, so preconditions and overflow
// checks run for users and in the (release) test suite; -Ounchecked saved about 1.5 % CPU time on
// `cnnc bench examples/mnist.yaml` (README, "Checked builds").
// CI runs `swift test -c release -Xswiftc -enable-testing` (see README.md).

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
        .target(name: "Spec", dependencies: ["CYAML"]),
        .target(name: "Graph", dependencies: ["Spec"]),
        .target(name: "Runtime", dependencies: ["Graph", "CBLAS", "CZlib"]),
        .executableTarget(
            name: "cnnc",
            dependencies: ["Runtime", .product(name: "ArgumentParser", package: "swift-argument-parser")]
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
