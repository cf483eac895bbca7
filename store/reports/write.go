package reports

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
)

// MarshalDMARC writes an aggregate report as RFC 7489 Appendix C XML.
func MarshalDMARC(f *Feedback) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	b.WriteString("\n")
	return b.Bytes(), nil
}

// GzipDMARC is MarshalDMARC, gzipped (the form RFC 7489 §7.2.1.1 names).
func GzipDMARC(f *Feedback) ([]byte, error) {
	x, err := MarshalDMARC(f)
	if err != nil {
		return nil, err
	}
	return gzipBytes(x)
}

// GzipTLSRPT is a TLS report's JSON, gzipped (application/tlsrpt+gzip,
// RFC 8460 §5.3).
func GzipTLSRPT(r *TLSReport) ([]byte, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return gzipBytes(js)
}

func gzipBytes(data []byte) ([]byte, error) {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
