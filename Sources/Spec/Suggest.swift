/// Did-you-mean: the candidate closest to `word`, compared case-insensitively.
///
/// A candidate qualifies when it equals `word` ignoring case, is within Levenshtein
/// distance 2 (and closer than the word's own length), or starts with `word` (for words of
/// three or more characters). The closest qualifying candidate wins; ties go to the earlier one.
public func suggest(_ word: String, among candidates: [String]) -> String? {
    let needle = Array(word.lowercased())
    guard !needle.isEmpty else { return nil }
    var best: (candidate: String, distance: Int)?
    for candidate in candidates {
        let other = Array(candidate.lowercased())
        var distance = levenshtein(needle, other, limit: 2)
        if distance > 2 || distance >= needle.count {
            let isPrefix = needle.count >= 3 && other.starts(with: needle)
            guard isPrefix else { continue }
            distance = 3
        }
        if let current = best, current.distance <= distance {
            continue
        }
        best = (candidate, distance)
    }
    return best?.candidate
}

/// Edit distance between `a` and `b`; any result above `limit` is reported as `limit + 1`.
private func levenshtein(_ a: [Character], _ b: [Character], limit: Int) -> Int {
    if abs(a.count - b.count) > limit {
        return limit + 1
    }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...max(1, a.count) where !a.isEmpty {
        current[0] = i
        var rowMinimum = current[0]
        for j in 1...max(1, b.count) where !b.isEmpty {
            let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
            current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            rowMinimum = min(rowMinimum, current[j])
        }
        if rowMinimum > limit {
            return limit + 1
        }
        swap(&previous, &current)
    }
    return min(previous[b.count], limit + 1)
}
