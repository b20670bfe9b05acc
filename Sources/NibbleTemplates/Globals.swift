import Foundation

/// Functions every template sees: `range`, `namespace`, `dict`, `raise_exception`, `strftime_now`.
enum Globals {
    static func lookup(_ name: String) -> Value? {
        switch name {
        case "range": return .callable(Callable(name, range))
        case "namespace":
            return .callable(Callable(name) { args, _ in
                var attrs = OrderedDict()
                if case .dict(let d)? = args.positional.first { for (k, v) in d.pairs { attrs[k] = v } }
                for (k, v) in args.keyword { attrs[k] = v }
                return .namespace(Namespace(attrs))
            })
        case "dict":
            return .callable(Callable(name) { args, _ in
                var d = OrderedDict()
                if case .dict(let base)? = args.positional.first { for (k, v) in base.pairs { d[k] = v } }
                for (k, v) in args.keyword { d[k] = v }
                return .dict(d)
            })
        case "raise_exception":
            return .callable(Callable(name) { args, _ in
                throw TemplateError.raised(args.positional.first?.pythonString ?? "")
            })
        case "strftime_now":
            return .callable(Callable(name) { args, interp in
                guard case .string(let format)? = args.value(0, "format") else { throw TemplateError.type("strftime_now() needs a format string") }
                return .string(try interp.checkSize(Strftime.format(format, interp.now(), interp.timeZone)))
            })
        default: return nil
        }
    }

    private static func range(_ args: Arguments, _ interp: Interpreter) throws -> Value {
        let ints = try args.positional.map { v -> Int in
            guard case .int(let i)? = Operators.number(v) else { throw TemplateError.type("'\(v.typeName)' object cannot be interpreted as an integer") }
            return i
        }
        let (start, stop, step): (Int, Int, Int)
        switch ints.count {
        case 1: (start, stop, step) = (0, ints[0], 1)
        case 2: (start, stop, step) = (ints[0], ints[1], 1)
        case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
        default: throw TemplateError.type("range expected 1 to 3 arguments, got \(ints.count)")
        }
        guard step != 0 else { throw TemplateError.runtime("ValueError: range() arg 3 must not be zero") }
        let count = step > 0 ? (stop > start ? (stop - start - 1) / step + 1 : 0) : (start > stop ? (start - stop - 1) / -step + 1 : 0)
        if count > interp.limits.maxRange {
            throw TemplateError.limit("range too big (\(count) items; the limit is \(interp.limits.maxRange))")
        }
        return .list((0..<count).map { .int(start + $0 * step) })
    }
}

/// Python's `time.strftime` for the directives chat templates use.
enum Strftime {
    static func format(_ format: String, _ date: Date, _ zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let year = c.year ?? 1970, month = c.month ?? 1, day = c.day ?? 1
        let hour = c.hour ?? 0, minute = c.minute ?? 0, second = c.second ?? 0
        let weekday = ((c.weekday ?? 1) + 5) % 7  // Monday = 0
        let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        let days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
        func pad(_ n: Int, _ w: Int = 2) -> String { let s = String(n); return String(repeating: "0", count: max(0, w - s.count)) + s }
        var out = ""
        let chars = Array(format)
        var i = 0
        while i < chars.count {
            guard chars[i] == "%", i + 1 < chars.count else { out.append(chars[i]); i += 1; continue }
            var noPad = false
            var d = chars[i + 1]
            if d == "-", i + 2 < chars.count { noPad = true; d = chars[i + 2]; i += 1 }
            func num(_ n: Int, _ w: Int = 2) -> String { noPad ? String(n) : pad(n, w) }
            let hour12 = hour % 12 == 0 ? 12 : hour % 12
            switch d {
            case "Y": out += String(year)
            case "y": out += num(year % 100)
            case "m": out += num(month)
            case "d": out += num(day)
            case "e": out += noPad ? String(day) : (day < 10 ? " \(day)" : String(day))
            case "H": out += num(hour)
            case "I": out += num(hour12)
            case "M": out += num(minute)
            case "S": out += num(second)
            case "p": out += hour < 12 ? "AM" : "PM"
            case "b", "h": out += String(months[month - 1].prefix(3))
            case "B": out += months[month - 1]
            case "a": out += String(days[weekday].prefix(3))
            case "A": out += days[weekday]
            case "j": out += num(dayOfYear, 3)
            case "w": out += String((weekday + 1) % 7)
            case "u": out += String(weekday + 1)
            case "F": out += "\(year)-\(pad(month))-\(pad(day))"
            case "T": out += "\(pad(hour)):\(pad(minute)):\(pad(second))"
            case "D": out += "\(pad(month))/\(pad(day))/\(pad(year % 100))"
            case "Z": out += zone.abbreviation(for: date) ?? ""
            case "z":
                let offset = zone.secondsFromGMT(for: date) / 60
                out += (offset < 0 ? "-" : "+") + pad(abs(offset) / 60) + pad(abs(offset) % 60)
            case "%": out += "%"
            default: out += "%" + String(d)
            }
            i += 2
        }
        return out
    }
}
