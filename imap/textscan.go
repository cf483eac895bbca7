package imap

import (
	"bytes"
	"unicode/utf8"
)

// indexFold returns the index of the first ASCII case-insensitive match of
// needle (already lower-cased with lowerASCII) in h, or -1. It never
// decodes or copies h: it jumps between occurrences of one byte of the
// needle (both cases) with bytes.IndexByte, which is vectorised, and
// compares only there. Non-ASCII bytes compare exactly.
func indexFold(h, needle []byte) int {
	n := len(needle)
	if n == 0 {
		return 0
	}
	if n > len(h) {
		return -1
	}
	k := pivot(needle)
	lo := needle[k]
	up := lo
	if lo >= 'a' && lo <= 'z' {
		up = lo - 'a' + 'A'
	}
	const none = int(^uint(0) >> 1)
	nextLo, nextUp := -1, -1
	if up == lo {
		nextUp = none
	}
	i := k
	last := len(h) - n + k // the last position the pivot may have
	for i <= last {
		if nextLo < i {
			if j := bytes.IndexByte(h[i:], lo); j < 0 {
				nextLo = none
			} else {
				nextLo = i + j
			}
		}
		if nextUp < i {
			if j := bytes.IndexByte(h[i:], up); j < 0 {
				nextUp = none
			} else {
				nextUp = i + j
			}
		}
		p := min(nextLo, nextUp)
		if p > last {
			return -1
		}
		if start := p - k; equalFoldLower(h[start:start+n], needle) {
			return start
		}
		i = p + 1
	}
	return -1
}

// equalFoldLower compares a with the lower-case b, folding ASCII only.
func equalFoldLower(a, b []byte) bool {
	for i := range b {
		c := a[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			return false
		}
	}
	return true
}

// letterRank orders letters from rare to common in English text, so the
// pivot byte stops the scan as seldom as possible.
const letterRank = "zqxjkvbpygfwmucldrhsnioate"

// pivot picks the needle byte to scan for: a non-letter if there is one
// (rare in text), else the rarest letter.
func pivot(needle []byte) int {
	best, bestRank := 0, 1000
	for i, c := range needle {
		r := 0
		switch {
		case c >= 'a' && c <= 'z':
			r = 100 + bytes.IndexByte([]byte(letterRank), c)
		case c == ' ':
			r = 500
		case c >= 0x80:
			r = 50
		default:
			r = 10
		}
		if r < bestRank {
			best, bestRank = i, r
		}
	}
	return best
}

// lowerASCII lower-cases ASCII letters of s (a search key).
func lowerASCII(s string) []byte {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}

// containsFoldString is indexFold for decoded text (UTF-8 keys with
// non-ASCII letters also match their simple case folds).
func containsFoldString(text string, key []byte) bool {
	if indexFold([]byte(text), key) >= 0 {
		return true
	}
	if !utf8.Valid(key) || isASCII(key) {
		return false
	}
	return bytes.Contains(bytes.ToLower([]byte(text)), bytes.ToLower(key))
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
