import Testing
@testable import NibbleTokenizer

@Test func NibbleTokenizerBuilds() { #expect(true) }
