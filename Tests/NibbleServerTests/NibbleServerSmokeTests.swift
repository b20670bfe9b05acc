import Testing
@testable import NibbleServer

@Test func NibbleServerBuilds() { #expect(true) }
