package goimapfix

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
)

// go-imap's decoder, refusing a literal before login, goes on to read the
// next line instead of answering, and lets bytes pipelined after STARTTLS
// reach the TLS handshake. So the not-authenticated state is ours
// (imap/preauth.go), and this strict reader parses its commands.
const (
	MaxPreauthLine    = 8 << 10 // longest command line before login
	MaxPreauthLiteral = 1 << 10 // largest literal before login
)

// ErrTooLong is a command line over MaxPreauthLine.
var ErrTooLong = errors.New("command line too long")

// ReadLine reads one CRLF- or LF-terminated line of at most MaxPreauthLine.
func ReadLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, chunk...)
		if len(b) > MaxPreauthLine {
			return "", ErrTooLong
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

// LiteralError is a literal announced over MaxPreauthLiteral; NonSync: the
// client sends it without waiting, so the connection cannot go on.
type LiteralError struct {
	Size    int64
	NonSync bool
}

func (e LiteralError) Error() string { return "literal too large" }

// ReadCommand parses one command: tag, upper-case name, and arguments
// (atoms, quoted strings and literals of at most MaxPreauthLiteral
// bytes). ready is called before the data of a synchronising literal is
// read (the caller sends "+").
func ReadCommand(br *bufio.Reader, ready func()) (tag, name string, args []string, err error) {
	line, err := ReadLine(br)
	if err != nil {
		return "", "", nil, err
	}
	var toks []string
	for {
		rest, lit, nonSync, perr := tokenize(line, &toks)
		if perr != nil {
			return firstTok(toks, line), "", nil, perr
		}
		if lit < 0 {
			break
		}
		if lit > MaxPreauthLiteral {
			return firstTok(toks, line), "", nil, LiteralError{lit, nonSync}
		}
		_ = rest
		if !nonSync {
			ready()
		}
		buf := make([]byte, lit)
		if _, err := io.ReadFull(br, buf); err != nil {
			return "", "", nil, err
		}
		toks = append(toks, string(buf))
		if line, err = ReadLine(br); err != nil {
			return "", "", nil, err
		}
		line = strings.TrimPrefix(line, " ")
		if line == "" {
			break
		}
	}
	if len(toks) < 2 {
		return firstTok(toks, line), "", nil, errors.New("expected a tag and a command")
	}
	if !isTag(toks[0]) {
		return "", "", nil, errors.New("invalid tag")
	}
	return toks[0], strings.ToUpper(toks[1]), toks[2:], nil
}

func firstTok(toks []string, line string) string {
	if len(toks) > 0 && isTag(toks[0]) {
		return toks[0]
	}
	if i := strings.IndexByte(line, ' '); i > 0 && isTag(line[:i]) {
		return line[:i]
	}
	return "*"
}

func isTag(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte(`(){%*"\+`, c) >= 0 {
			return false
		}
	}
	return true
}

// tokenize splits a line into tokens appended to toks. If the line ends
// with a literal announcement {n} or {n+}, it returns n (else -1).
func tokenize(line string, toks *[]string) (rest string, lit int64, nonSync bool, err error) {
	for {
		line = strings.TrimLeft(line, " ")
		if line == "" {
			return "", -1, false, nil
		}
		switch line[0] {
		case '"':
			var sb strings.Builder
			i := 1
			for ; i < len(line); i++ {
				c := line[i]
				if c == '\\' && i+1 < len(line) {
					i++
					sb.WriteByte(line[i])
					continue
				}
				if c == '"' {
					break
				}
				sb.WriteByte(c)
			}
			if i >= len(line) {
				return "", -1, false, errors.New("unterminated quoted string")
			}
			*toks = append(*toks, sb.String())
			line = line[i+1:]
		case '{':
			end := strings.IndexByte(line, '}')
			if end < 0 || end != len(line)-1 {
				return "", -1, false, errors.New("literal announcement must end the line")
			}
			num := line[1:end]
			if nonSync = strings.HasSuffix(num, "+"); nonSync {
				num = num[:len(num)-1]
			}
			n, perr := strconv.ParseInt(num, 10, 64)
			if perr != nil || n < 0 {
				return "", -1, false, errors.New("invalid literal size")
			}
			return "", n, nonSync, nil
		default:
			i := strings.IndexByte(line, ' ')
			if i < 0 {
				i = len(line)
			}
			*toks = append(*toks, line[:i])
			line = line[i:]
		}
	}
}
