import XCTest
@testable import Graph
import Spec

final class CompilationTests: XCTestCase {
    func testExamplesCompileWithoutDiagnostics() throws {
        let expected = ["mnist": 468_202, "lenet": 61_706, "strided": 28_970, "lenet-wide": 94_358]
        for name in exampleNames {
            let compilation = Compilation.compile(path: examplePath(name))
            XCTAssertEqual(compilation.diagnostics, [], compilation.renderedDiagnostics)
            XCTAssertFalse(compilation.hasErrors, name)
            XCTAssertEqual(compilation.renderedDiagnostics, "", name)
            XCTAssertEqual(compilation.source.path, examplePath(name))
            XCTAssertNotNil(compilation.spec, name)
            XCTAssertEqual(compilation.graph?.parameterCount, expected[name], name)
        }
    }

    func testSourceAndFileCompileAlike() throws {
        for name in exampleNames {
            let fromFile = Compilation.compile(path: examplePath(name))
            let text = fromFile.source.text
            XCTAssertFalse(text.isEmpty, name)
            let fromSource = Compilation.compile(source: SourceFile(path: examplePath(name), text: text))
            XCTAssertEqual(fromSource.graph, fromFile.graph, name)
            XCTAssertEqual(fromSource.spec, fromFile.spec, name)
        }
    }

    func testDropoutOverrideSetsEveryDropout() throws {
        let yaml = """
        name: t
        input: [1, 8, 8]
        layers:
          - Conv2D: {out_channels: 2, kernel_size: 3}
          - Dropout: {p: 0.1}
          - Linear: {out_features: 16}
          - Dropout
          - Linear: {out_features: 10}

        """
        func ps(_ compilation: Compilation) -> [Double] {
            compilation.graph?.steps.compactMap { step -> Double? in
                if case let .dropout(p) = step.op { return p }
                return nil
            } ?? []
        }
        XCTAssertEqual(ps(compile(yaml)), [0.1, 0.5])
        let overridden = compile(yaml, dropout: 0.7)
        XCTAssertEqual(ps(overridden), [0.7, 0.7])
        // The spec the compilation keeps carries the override too.
        XCTAssertEqual(overridden.spec?.layers.compactMap { layer -> Double? in
            if case let .dropout(d) = layer.kind { return d.p }
            return nil
        }, [0.7, 0.7])
        XCTAssertEqual(ps(compile(yaml, dropout: 0)), [0, 0])
        // Nothing else changes.
        XCTAssertEqual(overridden.graph?.parameterCount, compile(yaml).graph?.parameterCount)
    }

    func testDropoutOverrideOnExamples() throws {
        let mnist = Compilation.compile(path: examplePath("mnist"), dropout: 0.3)
        XCTAssertEqual(mnist.graph?.steps[17].op, .dropout(p: 0.3))
        let lenet = Compilation.compile(path: examplePath("lenet"), dropout: 0.9)
        XCTAssertEqual(lenet.graph?.steps[9].op, .dropout(p: 0.9))
    }

    func testDiagnosticsAreSortedByLocation() {
        // The graph stage finds the wrong width (line 5) before the parameter limit (the `layers:`
        // key, line 3); the spec stage warns about momentum under adam (line 8). Sorted by location:
        // Linear 4→66666: 333,330; Linear 66666→11: 733,337; total 1,066,667 (over by 66,668).
        let compilation = compile("""
        name: t
        input: [1, 1, 4]
        layers:
          - Linear: {out_features: 66666}
          - Linear: {out_features: 11}
        train:
          optimizer:
            name: adam
            momentum: 0.9

        """)
        XCTAssertNil(compilation.graph)
        XCTAssertNotNil(compilation.spec)
        XCTAssertTrue(compilation.hasErrors)
        let locations = compilation.diagnostics.compactMap(\.location)
        XCTAssertEqual(locations.count, 3, compilation.renderedDiagnostics)
        XCTAssertEqual(locations, locations.sorted())
        XCTAssertEqual(compilation.diagnostics.map(\.severity), [.error, .error, .warning])
        XCTAssertEqual(compilation.diagnostics.map { $0.location?.line }, [3, 5, 9])
        XCTAssertTrue(compilation.diagnostics[0].message.hasPrefix("the model has 1,066,667 parameters"))
        XCTAssertTrue(compilation.diagnostics[1].message.hasPrefix("the model outputs 11 features"))
    }

    func testWarningsAloneKeepTheGraph() throws {
        let compilation = compile("""
        layers:
          - Linear: {out_features: 10}
        train:
          optimizer: {name: adam, momentum: 0.5}

        """)
        XCTAssertFalse(compilation.hasErrors)
        XCTAssertEqual(compilation.diagnostics.map(\.severity), [.warning])
        // Default input [1, 28, 28]: 784·10 + 10 = 7,850.
        XCTAssertEqual(compilation.graph?.parameterCount, 7_850)
        XCTAssertEqual(compilation.graph?.name, "t")
    }

    func testSpecErrorsStopBeforeTheGraph() {
        let compilation = compile("""
        layers:
          - Conv2D: {kernel_size: 3}

        """)
        XCTAssertTrue(compilation.hasErrors)
        XCTAssertNil(compilation.spec)
        XCTAssertNil(compilation.graph)
    }

    func testMissingFile() {
        let compilation = Compilation.compile(path: "\(repositoryRoot)/examples/does-not-exist.yaml")
        XCTAssertNil(compilation.graph)
        XCTAssertEqual(compilation.diagnostics.count, 1)
        XCTAssertNil(compilation.diagnostics.first?.location)
    }
}
