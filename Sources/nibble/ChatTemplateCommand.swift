import ArgumentParser
import Foundation
import NibbleModels
import NibbleTemplates

/// `nibble chat-template`: renders a conversation with a chat template and prints exactly the text (no newline
/// added), as transformers' `apply_chat_template(..., tokenize=False)` returns it.
struct ChatTemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-template",
        abstract: "Render a conversation with a chat template and print the prompt text exactly."
    )

    @Option(name: .long, help: "A Jinja chat template file (overrides the model's own template).")
    var template: String?

    @Option(name: .long, help: "A model directory (or ORG/NAME in the hub cache): its template and special tokens.")
    var model: String?

    @Option(name: .long, help: "Format used when --model has no template of its own: llama or guanaco.")
    var adapter: String = "llama"

    @Option(name: .long, help: "A JSON file: the list of messages, or an object with \"messages\".")
    var messages: String

    @Option(name: .long, help: "A JSON file with the list of tool schemas (the template sees `tools`).")
    var tools: String?

    @Option(name: .customLong("bos-token"), help: "The template's bos_token.")
    var bosToken: String?

    @Option(name: .customLong("eos-token"), help: "The template's eos_token.")
    var eosToken: String?

    @Flag(name: .customLong("no-generation-prompt"), help: "Render without the assistant turn's opening (add_generation_prompt false).")
    var noGenerationPrompt = false

    @Flag(name: .customLong("continue-final-message"), help: "Leave the final message open so the model continues it.")
    var continueFinalMessage = false

    @Option(name: .customLong("template-kwargs"), help: "A JSON object of extra template variables (e.g. {\"enable_thinking\": false}).")
    var templateKwargs: String?

    @Option(name: .long, help: "strftime_now's clock as ISO 8601 (2026-07-26T12:00:00Z); read in the given offset.")
    var now: String?

    func validate() throws {
        if template == nil && model == nil { throw ValidationError("give --template FILE or --model DIR") }
    }

    func run() throws {
        let format = try chatFormat()
        let conversation = try readJSON(messages, option: "--messages")
        let messageList: [Value]
        switch conversation {
        case .list(let list): messageList = list
        case .dict(let object):
            guard case .list(let list)? = object["messages"] else { throw ValidationError("--messages: the object has no \"messages\" list") }
            messageList = list
        default: throw ValidationError("--messages: expected a JSON list of messages or an object with \"messages\"")
        }
        var toolList: Value?
        if let tools {
            let value = try readJSON(tools, option: "--tools")
            guard case .list = value else { throw ValidationError("--tools: expected a JSON list of tools") }
            toolList = value
        }
        var kwargs: [String: Value] = [:]
        if let bosToken { kwargs["bos_token"] = .string(bosToken) }
        if let eosToken { kwargs["eos_token"] = .string(eosToken) }
        if let templateKwargs {
            guard case .dict(let object)? = try? TemplateJSON.parse(templateKwargs) else {
                throw ValidationError("--template-kwargs: expected a JSON object")
            }
            for (key, value) in object.pairs { kwargs[key] = value }
        }
        let (clock, zone) = try self.clock()
        do {
            let text = try format.render(messages: messageList, tools: toolList, addGenerationPrompt: !noGenerationPrompt,
                                         continueFinalMessage: continueFinalMessage, kwargs: kwargs,
                                         now: { clock }, timeZone: zone)
            FileHandle.standardOutput.write(Data(text.utf8))
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// The template to render with: `--template`, else the model's own, else the adapter's format.
    private func chatFormat() throws -> ModelChatTemplate {
        do {
            let directory = try model.map(resolveModelDirectory)
            let specialTokens = try directory.map(ChatTemplateSpecialTokens.load) ?? [:]
            if let template {
                let url = URL(fileURLWithPath: template)
                guard let text = try? String(contentsOf: url, encoding: .utf8) else {
                    throw ValidationError("--template: cannot read \(template)")
                }
                return try ModelChatTemplate(ChatTemplateTexts(single: text, origin: url.path), specialTokens: specialTokens)
            }
            guard let directory else { throw ValidationError("give --template FILE or --model DIR") }
            if let own = try ModelChatTemplate.load(directory: directory) { return own }
            guard let fallback = ModelAdapters.named(adapter) else {
                throw ValidationError("--adapter: unknown adapter '\(adapter)' (known: \(ModelAdapters.names.joined(separator: ", ")))")
            }
            return try ModelChatTemplate(adapter: fallback)
        } catch let error as ValidationError {
            throw error
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func readJSON(_ path: String, option: String) throws -> Value {
        guard let text = try? String(contentsOf: URL(fileURLWithPath: path), encoding: .utf8) else {
            throw ValidationError("\(option): cannot read \(path)")
        }
        do { return try TemplateJSON.parse(text) } catch { throw ValidationError("\(option): \(path) is not valid JSON (\(error))") }
    }

    /// `--now` as an instant and the time zone of its offset; without it, the current time in the local zone.
    private func clock() throws -> (Date, TimeZone) {
        guard let now else { return (Date(), .current) }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var date = formatter.date(from: now)
        if date == nil {
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            date = formatter.date(from: now)
        }
        if date == nil {
            // No offset given: read as UTC.
            formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate]
            formatter.timeZone = TimeZone(identifier: "UTC")
            date = formatter.date(from: now)
        }
        guard let date else { throw ValidationError("--now: expected ISO 8601 such as 2026-07-26T12:00:00Z, got '\(now)'") }
        var zone = TimeZone(identifier: "UTC")!
        if let match = now.range(of: #"[+-]\d\d:?\d\d$"#, options: .regularExpression) {
            let digits = now[match].filter(\.isNumber)
            let sign = now[match].first == "-" ? -1 : 1
            let minutes = (Int(digits.prefix(2)) ?? 0) * 60 + (Int(digits.suffix(2)) ?? 0)
            zone = TimeZone(secondsFromGMT: sign * minutes * 60) ?? zone
        }
        return (date, zone)
    }
}
