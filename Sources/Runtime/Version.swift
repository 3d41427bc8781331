public let cnncVersion = "0.1.0"
