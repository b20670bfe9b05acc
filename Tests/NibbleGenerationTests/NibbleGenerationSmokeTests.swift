import Testing
@testable import NibbleGeneration

@Test func NibbleGenerationBuilds() { #expect(true) }
