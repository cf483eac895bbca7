package junk

import "bytes"

// CorpusMessage turns a message as mail archives keep it (an mbox "From "
// line first, LF line endings) into wire form: no "From " line, CRLF.
func CorpusMessage(raw []byte) []byte {
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	raw = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))
}
