import Testing
@testable import NibbleModels

@Test func NibbleModelsBuilds() { #expect(true) }
