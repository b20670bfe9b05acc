import Testing
@testable import NibbleQuant

@Test func NibbleQuantBuilds() { #expect(true) }
