package goimapfix

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf16"
	"unicode/utf8"
)

// Filter sits between a logged-in connection and go-imap. It passes
// commands through one line at a time (and literal data as it comes) and
// answers itself what go-imap gets wrong:
//
//   - ID (RFC 2971 allows it in every state; go-imap knows it only before
//     login, which is ours, and answers BAD after);
//   - a mailbox name go-imap cannot decode (a NUL or other control byte,
//     invalid UTF-8 or modified UTF-7): go-imap answers NO [SERVERBUG],
//     we answer NO [CANNOT] and say why;
//   - a quoted or atom mailbox name with 8-bit bytes from a client that
//     enabled neither IMAP4rev2 nor UTF8=ACCEPT: RFC 3501 §9 makes quoted
//     strings and atoms 7-bit, and go-imap would take the name as UTF-8
//     and later list it in modified UTF-7, so the client would see a
//     second folder (mbsync does). Refused with BAD.
//
// go-imap reads the next command only after it has answered the previous
// one, and the filter hands it one line at a time, so an answer written
// here never overtakes one of go-imap's. Names in literals are left to
// go-imap and the store.
type Filter struct {
	br    *bufio.Reader
	write func(line string) error

	pending []byte // the rest of a line go-imap is reading
	literal int64  // raw literal bytes to pass before the next line
	// sync: that literal waits for go-imap's "+", which go-imap may refuse
	// to send (APPEND over the limit); plus is set when it writes one.
	sync bool
	plus atomic.Bool
	// cont: the next line continues the current command (after a literal);
	// idle: the next line ends IDLE; long: inside an overlong line, passed
	// through unread for go-imap to refuse.
	cont, idle, long bool
	utf8             bool // IMAP4rev2 or UTF8=ACCEPT enabled
}

// IDResponse answers ID before and after login.
const IDResponse = `* ID ("name" "authsmtp")`

// maxFilterLine bounds the line the filter inspects; go-imap's own limit
// (50 KiB) is lower, so a longer line is go-imap's to refuse.
const maxFilterLine = 64 << 10

// NewFilter reads the client's bytes from br; write sends the filter's
// own answers (one line, CRLF added) to the client.
func NewFilter(br *bufio.Reader, write func(line string) error) *Filter {
	return &Filter{br: br, write: write}
}

// SawContinuation tells the filter go-imap wrote a "+": the client may
// send the literal it announced.
func (f *Filter) SawContinuation() { f.plus.Store(true) }

// Read gives go-imap the client's bytes, less the commands the filter
// answered itself.

func (f *Filter) Read(p []byte) (int, error) {
	for {
		if len(f.pending) > 0 {
			n := copy(p, f.pending)
			f.pending = f.pending[n:]
			return n, nil
		}
		if f.literal > 0 && f.sync {
			f.sync = false
			if !f.plus.Load() {
				// go-imap answered instead of asking for the literal: the
				// client sends none, and the command has ended.
				f.literal, f.cont = 0, false
			}
		}
		if f.literal > 0 {
			if int64(len(p)) > f.literal {
				p = p[:f.literal]
			}
			n, err := f.br.Read(p)
			f.literal -= int64(n)
			return n, err
		}
		if f.long {
			chunk, err := f.br.ReadSlice('\n')
			if err != bufio.ErrBufferFull {
				f.long = false
			}
			if len(chunk) > 0 {
				f.pending = append(f.pending[:0], chunk...)
				continue
			}
			return 0, err
		}
		line, err := f.readLine()
		if len(line) == 0 {
			return 0, err
		}
		if f.long {
			f.pending = line
			continue
		}
		if f.handle(line) {
			f.pending = line
		}
	}
}

// readLine reads one line up to maxFilterLine bytes; a longer one is
// returned in part with f.long set.
func (f *Filter) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := f.br.ReadSlice('\n')
		line = append(line, chunk...)
		if err == bufio.ErrBufferFull {
			if len(line) > maxFilterLine {
				f.long = true
				return line, nil
			}
			continue
		}
		return line, err
	}
}

// handle looks at one complete line and reports whether go-imap gets it.
func (f *Filter) handle(line []byte) bool {
	body := bytes.TrimRight(line, "\r\n")
	cont := f.cont
	f.setLiteral(body)
	if cont {
		return true
	}
	if f.idle {
		f.idle = false // DONE
		return true
	}
	tag, rest, _ := strings.Cut(string(body), " ")
	name, args, _ := strings.Cut(rest, " ")
	name = strings.ToUpper(name)
	if name == "UID" {
		var sub string
		sub, args, _ = strings.Cut(args, " ")
		name += " " + strings.ToUpper(sub)
	}
	switch name {
	case "ID":
		if f.cont {
			return true // an ID with literals: left to go-imap
		}
		f.reply(IDResponse)
		f.reply(tag + " OK ID completed")
		return false
	case "IDLE":
		f.idle = true
	case "ENABLE":
		for _, c := range strings.Fields(strings.ToUpper(args)) {
			if c == "IMAP4REV2" || c == "UTF8=ACCEPT" {
				f.utf8 = true
			}
		}
	}
	if refusal := f.checkMailboxArgs(name, args); refusal != "" {
		f.reply(tag + " " + refusal)
		f.discard()
		return false
	}
	return true
}

// discard drops the rest of a refused command: the literals a client sends
// without waiting ({n+}) and the lines after them. After a synchronising
// literal the client waits for a "+" it never gets: the tagged answer
// ends the command.
func (f *Filter) discard() {
	for f.cont && !f.sync {
		if _, err := f.br.Discard(int(min(f.literal, 1<<30))); err != nil {
			break
		}
		line, err := f.readLine()
		if err != nil || f.long {
			break
		}
		f.setLiteral(bytes.TrimRight(line, "\r\n"))
	}
	f.cont, f.literal, f.sync = false, 0, false
}

// setLiteral notes the literal a line announces, if any: the line after
// its data continues the command.
func (f *Filter) setLiteral(line []byte) {
	n, nonSync, ok := trailingLiteral(line)
	f.cont, f.literal, f.sync = ok, n, ok && !nonSync
	f.plus.Store(false)
}

func (f *Filter) reply(line string) {
	f.write(line + "\r\n")
}

// mailboxArgs gives, per command, which top-level arguments are mailbox
// names (LIST's optional selection options are dropped before counting).
var mailboxArgs = map[string][]int{
	"SELECT": {0}, "EXAMINE": {0}, "CREATE": {0}, "DELETE": {0},
	"SUBSCRIBE": {0}, "UNSUBSCRIBE": {0}, "STATUS": {0}, "APPEND": {0},
	"RENAME": {0, 1}, "LIST": {0, 1}, "LSUB": {0, 1},
	"COPY": {1}, "MOVE": {1}, "UID COPY": {1}, "UID MOVE": {1},
}

// checkMailboxArgs returns the answer refusing a mailbox argument of the
// command, or "".
func (f *Filter) checkMailboxArgs(name, args string) string {
	want, ok := mailboxArgs[name]
	if !ok {
		return ""
	}
	toks := argTokens(args)
	if name == "LIST" && len(toks) > 0 && toks[0].list {
		toks = toks[1:]
	}
	for _, i := range want {
		if i >= len(toks) || toks[i].list {
			continue
		}
		if why := f.badMailboxName(toks[i]); why != "" {
			return why
		}
	}
	return ""
}

// badMailboxName returns the answer refusing a mailbox name as it came on
// the wire, or "". The checks follow go-imap's decoder, so a name passed
// on never reaches it as an undecodable one.
func (f *Filter) badMailboxName(t argToken) string {
	for i := 0; i < len(t.raw); i++ {
		if c := t.raw[i]; c < 0x20 || c == 0x7f {
			return "NO [CANNOT] mailbox names cannot contain control characters"
		}
	}
	eightBit := false
	for i := 0; i < len(t.raw); i++ {
		if t.raw[i] >= 0x80 {
			eightBit = true
		}
	}
	if eightBit && !f.utf8 {
		return "BAD 8-bit characters in a quoted string or atom (RFC 3501 §9); send the mailbox name in modified UTF-7, or ENABLE UTF8=ACCEPT first"
	}
	if !utf8.ValidString(t.value) {
		return "NO [CANNOT] mailbox name is not valid UTF-8"
	}
	if strings.EqualFold(t.value, "INBOX") {
		return ""
	}
	if !validMUTF7(t.value) {
		return "NO [CANNOT] mailbox name is not valid modified UTF-7 (RFC 3501 §5.1.3)"
	}
	return ""
}

// mutf7 is the base64 alphabet of modified UTF-7 (RFC 3501 §5.1.3).
var mutf7 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// validMUTF7 reports whether s (raw UTF-8 allowed, as go-imap allows it)
// decodes as modified UTF-7.
func validMUTF7(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c != '&' {
			ascii = true
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return false
		}
		enc := s[i+1 : i+1+end]
		i += 1 + end
		if enc == "" {
			ascii = true
			continue
		}
		if !ascii {
			return false // "&..-&..-" must be one segment
		}
		b, err := mutf7.DecodeString(enc)
		if err != nil || len(b) == 0 || len(b)%2 != 0 {
			return false
		}
		u := make([]uint16, len(b)/2)
		for j := range u {
			u[j] = uint16(b[2*j])<<8 | uint16(b[2*j+1])
		}
		for _, r := range utf16.Decode(u) {
			if r == utf8.RuneError || (r >= 0x20 && r < 0x7f) {
				return false // lone surrogates; printable ASCII must not be encoded
			}
		}
		ascii = false
	}
	return true
}

// argToken is one top-level argument: an atom, a quoted string (raw is
// between the quotes, value unescaped) or a parenthesised list.
type argToken struct {
	raw, value string
	list       bool
}

// argTokens splits a command's arguments up to the first literal.
func argTokens(s string) []argToken {
	var out []argToken
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == ')':
			i++ // a stray ")" is go-imap's to refuse
		case c == '{' || c == '~':
			return out // a literal: the rest is go-imap's
		case c == '(':
			depth, j := 0, i
			for ; j < len(s); j++ {
				if s[j] == '(' {
					depth++
				} else if s[j] == ')' {
					depth--
					if depth == 0 {
						break
					}
				} else if s[j] == '"' {
					j = skipQuoted(s, j)
				}
			}
			out = append(out, argToken{raw: s[i:min(j+1, len(s))], list: true})
			i = j + 1
		case c == '"':
			j := skipQuoted(s, i)
			raw := s[i+1 : max(j, i+1)]
			var v strings.Builder
			for k := 0; k < len(raw); k++ {
				if raw[k] == '\\' && k+1 < len(raw) {
					k++
				}
				v.WriteByte(raw[k])
			}
			out = append(out, argToken{raw: raw, value: v.String()})
			i = j + 1
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '(' && s[j] != ')' {
				j++
			}
			out = append(out, argToken{raw: s[i:j], value: s[i:j]})
			i = j
		}
	}
	return out
}

// skipQuoted returns the index of the closing quote of the quoted string
// starting at s[i] (len(s) if it is missing).
func skipQuoted(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return len(s)
}

// trailingLiteral reports whether a line ends with a literal announcement
// ({n}, {n+}, {n-}, ~{n}), its size and whether the client sends it
// without waiting for "+".
func trailingLiteral(line []byte) (n int64, nonSync, ok bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false, false
	}
	num := string(line[open+1 : len(line)-1])
	if strings.HasSuffix(num, "+") || strings.HasSuffix(num, "-") {
		num, nonSync = num[:len(num)-1], true
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || num == "" || num[0] == '+' {
		return 0, false, false
	}
	return n, nonSync, true
}
