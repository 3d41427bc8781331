import Graph
import Spec

public let cnncVersion = "0.1.0"
