package mailmsg

import "bytes"

// BareNewline returns the offset of the first CR not followed by LF or LF
// not preceded by CR, or -1. Such line endings are how SMTP smuggling
// hides a second message; they are refused, never repaired.
func BareNewline(msg []byte) int {
	lines := 0
	for off := 0; ; {
		i := bytes.IndexByte(msg[off:], '\n')
		if i < 0 {
			break
		}
		i += off
		if i == 0 || msg[i-1] != '\r' {
			return i
		}
		lines++
		off = i + 1
	}
	// Every LF has its CR; any other CR is bare.
	if bytes.Count(msg, []byte{'\r'}) == lines {
		return -1
	}
	for i, c := range msg {
		if c == '\r' && (i+1 >= len(msg) || msg[i+1] != '\n') {
			return i
		}
	}
	return -1
}

// NormalizeCRLF returns msg with every line ending as CRLF, for messages
// built in memory (webmail) rather than received over SMTP.
func NormalizeCRLF(msg []byte) []byte {
	if BareNewline(msg) < 0 {
		return msg
	}
	out := make([]byte, 0, len(msg)+len(msg)/32)
	for i := 0; i < len(msg); i++ {
		switch c := msg[i]; c {
		case '\r':
			if i+1 < len(msg) && msg[i+1] == '\n' {
				i++
			}
			out = append(out, '\r', '\n')
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}
