import Testing
@testable import NibbleFormats

@Test func NibbleFormatsBuilds() { #expect(true) }
