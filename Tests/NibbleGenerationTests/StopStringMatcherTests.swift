import Testing
@testable import NibbleGeneration

@Suite struct StopStringMatcherTests {
    @Test func stopSplitAcrossChunksNeverLeaks() {
        var matcher = StopStringMatcher(stopStrings: ["### Human:"])
        var out = ""
        for chunk in ["Hi", " there", "\n#", "##", " Hu", "man", ":", " more"] {
            switch matcher.append(chunk) {
            case .text(let text): out += text
            case .stopped(let text, let stop):
                out += text
                #expect(stop == "### Human:")
                #expect(out == "Hi there\n")
                return
            }
            #expect(!out.contains("#"))
        }
        Issue.record("stop string not found")
    }

    @Test func partialMatchIsHeldThenFlushedWhenItDoesNotMatch() {
        var matcher = StopStringMatcher(stopStrings: ["###"])
        #expect(matcher.append("a #") == .text("a "))
        #expect(matcher.heldBack == "#")
        #expect(matcher.append("#") == .text(""))
        #expect(matcher.append("x") == .text("##x"))
        #expect(matcher.append("b#") == .text("b"))
        #expect(matcher.flush() == "#")
    }

    @Test func earliestStopWins() {
        var matcher = StopStringMatcher(stopStrings: ["world", "lo w"])
        #expect(matcher.append("hello world") == .stopped(text: "hel", stop: "lo w"))
    }

    @Test func noStopStringsPassesThrough() {
        var matcher = StopStringMatcher(stopStrings: [])
        #expect(matcher.append("###") == .text("###"))
    }

    @Test func multibyteTextAroundAStopStaysWhole() {
        var matcher = StopStringMatcher(stopStrings: ["é!"])
        #expect(matcher.append("café") == .text("caf"))
        #expect(matcher.append("é") == .text("é"))
        #expect(matcher.append("!") == .stopped(text: "", stop: "é!"))
    }
}
