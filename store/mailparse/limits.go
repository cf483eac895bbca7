// Package mailparse reads mail that is already stored, and so may be
// hostile, within fixed bounds. It is the one parser of a message's
// header and MIME tree for everything that reads stored mail: IMAP
// (ENVELOPE, BODYSTRUCTURE, BODY[section], SEARCH), webmail, import and
// the MX.
//
// Every parse is bounded: the nesting of multipart and message/* parts,
// the number of parts, the fields and bytes of each header, the encoded
// words decoded per value, and the bytes scanned in all. The tree is made
// of offsets into the message (no part is ever copied), so a message
// nested thousands of levels deep costs what its bytes cost once, not
// once per level. Past a bound the parse stops there and says so
// (Message.Truncated, Part.Opaque): the message is still whole and
// readable, only its structure is shown shorter.
package mailparse

// Limits bound one parse. A zero field takes its default.
type Limits struct {
	// MaxDepth is how deep multipart and message/rfc822 parts may nest;
	// a container deeper than this is an opaque leaf (default 50, as
	// Postfix's mime_nesting_limit is 100 and Dovecot's 100).
	MaxDepth int
	// MaxParts is the most parts in the tree (default 5000).
	MaxParts int
	// MaxHeaderFields is the most fields read from one header (default 1000).
	MaxHeaderFields int
	// MaxHeaderBytes is how much of one header is read field by field
	// (default 1 MiB); the rest is skipped.
	MaxHeaderBytes int
	// MaxValueBytes is the longest value handed to a decoder (addresses,
	// dates, encoded words); longer ones are cut (default 64 KiB).
	MaxValueBytes int
	// MaxEncodedWords is the most RFC 2047 encoded words decoded in one
	// value (default 500).
	MaxEncodedWords int
	// WorkPerByte bounds the bytes scanned for MIME boundaries: at most
	// WorkPerByte times the message size, plus 1 MiB (default 8).
	WorkPerByte int
}

// Default limits, also used for any zero field.
const (
	DefaultMaxDepth        = 50
	DefaultMaxParts        = 5000
	DefaultMaxHeaderFields = 1000
	DefaultMaxHeaderBytes  = 1 << 20
	DefaultMaxValueBytes   = 64 << 10
	DefaultMaxEncodedWords = 500
	DefaultWorkPerByte     = 8
)

func (l Limits) orDefault() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxDepth, DefaultMaxDepth)
	def(&l.MaxParts, DefaultMaxParts)
	def(&l.MaxHeaderFields, DefaultMaxHeaderFields)
	def(&l.MaxHeaderBytes, DefaultMaxHeaderBytes)
	def(&l.MaxValueBytes, DefaultMaxValueBytes)
	def(&l.MaxEncodedWords, DefaultMaxEncodedWords)
	def(&l.WorkPerByte, DefaultWorkPerByte)
	return l
}
