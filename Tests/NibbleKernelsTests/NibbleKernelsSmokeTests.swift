import Testing
@testable import NibbleKernels

@Test func NibbleKernelsBuilds() { #expect(true) }
