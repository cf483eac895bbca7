package imap

import (
	"testing"

	goimap "github.com/emersion/go-imap/v2"
)

// FuzzParseMeta: the parse IMAP caches for any stored bytes is one go-imap
// can write (extension data everywhere, no empty multipart, a body in
// every message/rfc822), and it survives the cache's encoding.
func FuzzParseMeta(f *testing.F) {
	for _, m := range wellFormed {
		f.Add([]byte(m))
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=zz\r\n\r\nno parts\r\n"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		md := parseMeta(raw)
		checkWritable(t, md.Structure)
		dec, err := decodeMeta(encodeMeta(md), true)
		if err != nil {
			t.Fatalf("cached parse does not decode: %v", err)
		}
		checkWritable(t, dec.Structure)
		if dec.HeaderLen != md.HeaderLen || md.HeaderLen > len(raw) {
			t.Fatalf("header length %d → %d (of %d)", md.HeaderLen, dec.HeaderLen, len(raw))
		}
	})
}

func checkWritable(t *testing.T, bs goimap.BodyStructure) {
	t.Helper()
	switch x := bs.(type) {
	case *goimap.BodyStructureSinglePart:
		if x.Extended == nil {
			t.Fatal("single part without extension data")
		}
		if x.MessageRFC822 != nil {
			if x.MessageRFC822.BodyStructure == nil {
				t.Fatal("message/rfc822 without a body")
			}
			checkWritable(t, x.MessageRFC822.BodyStructure)
		}
	case *goimap.BodyStructureMultiPart:
		if x.Extended == nil || len(x.Children) == 0 {
			t.Fatalf("multipart with %d children, extension %v", len(x.Children), x.Extended)
		}
		for _, c := range x.Children {
			checkWritable(t, c)
		}
	default:
		t.Fatalf("structure of type %T", bs)
	}
}
