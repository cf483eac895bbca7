package reports

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"

	"github.com/authsmtp/authsmtp/store/mailparse"
)

// Limits bound the reading of one report mail. A zero field takes its
// default.
type Limits struct {
	// MaxAttachment is the most bytes of one part, transfer encoding
	// undone, that are looked at (default 8 MiB).
	MaxAttachment int
	// MaxDecompressed is the most bytes a report may inflate to (default
	// 32 MiB): Google's largest reports are some hundred KiB.
	MaxDecompressed int
	// MaxZipEntries is the most files a zip may hold (default 4: senders
	// put one report in a zip).
	MaxZipEntries int
	// MaxRecords is the most rows of one report (default 50000).
	MaxRecords int
	// MaxParts is the most MIME parts looked at (default 50).
	MaxParts int
}

func (l Limits) orDefault() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxAttachment, 8<<20)
	def(&l.MaxDecompressed, 32<<20)
	def(&l.MaxZipEntries, 4)
	def(&l.MaxRecords, 50000)
	def(&l.MaxParts, 50)
	return l
}

// ErrBomb is an archive that would inflate past the limits.
var ErrBomb = errors.New("compressed report inflates past the limit")

// Kind says which report a mail carries.
type Kind string

const (
	KindDMARC  Kind = "dmarc"
	KindTLSRPT Kind = "tlsrpt"
)

// Found is the report found in one mail.
type Found struct {
	Kind  Kind
	DMARC *Feedback  // Kind dmarc
	TLS   *TLSReport // Kind tlsrpt
	// Name is the attachment's file name, if it had one.
	Name string
}

// Extract finds the report in a mail: the first part (the message
// itself, or one of its leaves) that holds a gzip, a zip or plain
// XML/JSON which parses as a report of the kind want ("" for either).
// A part that inflates past the limits fails the whole mail with
// ErrBomb; a mail with no report is ErrNotReport (wrapping the first
// reason a candidate part was refused).
func Extract(msg []byte, want Kind, lim Limits) (*Found, error) {
	lim = lim.orDefault()
	m := mailparse.Parse(msg, mailparse.Limits{MaxParts: lim.MaxParts, MaxDepth: 5})
	var found *Found
	var firstErr error
	m.Leaves(func(p *mailparse.Part) bool {
		name := fileName(p)
		if !candidate(p, name) {
			return true
		}
		raw, err := io.ReadAll(io.LimitReader(m.Decoded(p), int64(lim.MaxAttachment)+1))
		if err == nil && len(raw) > lim.MaxAttachment {
			err = fmt.Errorf("attachment over %d bytes", lim.MaxAttachment)
		}
		var f *Found
		if err == nil {
			f, err = readPayload(raw, p.MediaType(), name, want, lim)
		}
		if err != nil {
			if firstErr == nil || errors.Is(err, ErrBomb) {
				firstErr = err
			}
			return !errors.Is(err, ErrBomb)
		}
		f.Name = name
		found = f
		return false
	})
	if errors.Is(firstErr, ErrBomb) {
		return nil, firstErr
	}
	if found != nil {
		return found, nil
	}
	if firstErr != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotReport, firstErr)
	}
	return nil, ErrNotReport
}

// fileName is a part's file name (Content-Disposition, else the
// Content-Type name parameter), without any directory.
func fileName(p *mailparse.Part) string {
	n := ""
	if _, params, err := parseDisposition(p.Header.Get("Content-Disposition")); err == nil {
		n = params["filename"]
	}
	if n == "" {
		n = p.Params["name"]
	}
	return path.Base(strings.ReplaceAll(n, "\\", "/"))
}

// candidate: a part that may hold a report — by media type or file name
// (senders label zips application/octet-stream, x-zip-compressed ...).
func candidate(p *mailparse.Part, name string) bool {
	switch p.MediaType() {
	case "application/gzip", "application/x-gzip", "application/zip", "application/x-zip-compressed",
		"application/xml", "text/xml", "application/json", "application/octet-stream",
		"application/tlsrpt+gzip", "application/tlsrpt+json":
		return true
	}
	n := strings.ToLower(name)
	for _, ext := range []string{".xml", ".gz", ".zip", ".json"} {
		if strings.HasSuffix(n, ext) {
			return true
		}
	}
	return false
}

// readPayload inflates raw if it is a gzip or a zip (by its magic bytes,
// not its label) and parses the report inside.
func readPayload(raw []byte, mediaType, name string, want Kind, lim Limits) (*Found, error) {
	var data []byte
	var err error
	switch {
	case bytes.HasPrefix(raw, []byte{0x1f, 0x8b}):
		data, err = gunzip(raw, lim)
	case bytes.HasPrefix(raw, []byte("PK\x03\x04")):
		data, err = unzip(raw, lim)
	default:
		data = raw
	}
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a byte order mark
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	tlsLabel := strings.HasPrefix(mediaType, "application/tlsrpt")
	switch {
	case len(trimmed) > 0 && trimmed[0] == '<' && want != KindTLSRPT && !tlsLabel:
		f, err := ParseDMARC(data, lim)
		if err != nil {
			return nil, err
		}
		return &Found{Kind: KindDMARC, DMARC: f}, nil
	case len(trimmed) > 0 && trimmed[0] == '{' && want != KindDMARC:
		r, err := ParseTLSRPT(data, lim)
		if err != nil {
			return nil, err
		}
		return &Found{Kind: KindTLSRPT, TLS: r}, nil
	}
	return nil, fmt.Errorf("%s %q holds neither a DMARC nor a TLS report", mediaType, name)
}

// gunzip inflates one gzip stream (members concatenated are one stream)
// up to lim.MaxDecompressed.
func gunzip(raw []byte, lim Limits) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("reading gzip: %w", err)
	}
	return readCapped(zr, lim.MaxDecompressed)
}

// unzip returns the one report file of a zip: at most lim.MaxZipEntries
// entries, the first .xml or .json file (or the only file), inflated up
// to lim.MaxDecompressed whatever its header claims.
func unzip(raw []byte, lim Limits) ([]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, fmt.Errorf("reading zip: %w", err)
	}
	if len(zr.File) > lim.MaxZipEntries {
		return nil, fmt.Errorf("%w: zip with %d entries (at most %d)", ErrBomb, len(zr.File), lim.MaxZipEntries)
	}
	var pick *zip.File
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		n := strings.ToLower(f.Name)
		if strings.HasSuffix(n, ".xml") || strings.HasSuffix(n, ".json") || len(zr.File) == 1 {
			pick = f
			break
		}
	}
	if pick == nil {
		return nil, errors.New("zip holds no .xml or .json file")
	}
	if pick.UncompressedSize64 > uint64(lim.MaxDecompressed) {
		return nil, fmt.Errorf("%w: %s claims %d bytes", ErrBomb, pick.Name, pick.UncompressedSize64)
	}
	rc, err := pick.Open()
	if err != nil {
		return nil, fmt.Errorf("opening %s in the zip: %w", pick.Name, err)
	}
	defer rc.Close()
	return readCapped(rc, lim.MaxDecompressed)
}

// readCapped reads r to its end, refusing more than max bytes.
func readCapped(r io.Reader, max int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if len(data) > max {
		return nil, fmt.Errorf("%w (%d bytes)", ErrBomb, max)
	}
	if err != nil {
		return nil, fmt.Errorf("inflating: %w", err)
	}
	return data, nil
}

// parseDisposition reads a Content-Disposition value (cut to 4 KiB).
func parseDisposition(v string) (string, map[string]string, error) {
	if len(v) > 4096 {
		v = v[:4096]
	}
	return mime.ParseMediaType(v)
}
