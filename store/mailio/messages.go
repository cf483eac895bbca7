package mailio

import "fmt"

// Messages calls fn with each message under path (an mbox file, a
// Maildir, or a directory holding either), read and checked as Import
// reads them, in CRLF form. Bad messages are skipped and listed in the
// Summary; an error from fn stops the walk.
func Messages(path string, opts Options, fn func(body []byte) error) (*Summary, error) {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	folders, err := discover(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	total := 0
	for _, f := range folders {
		total += f.count
	}
	sum := &Summary{}
	done := 0
	for _, f := range folders {
		err := f.each(opts.MaxSize, func(m rawMessage) error {
			done++
			if opts.Progress != nil {
				defer opts.Progress(Progress{Folder: f.name, Done: done, Total: total})
			}
			body, _, err := check(m, opts.MaxSize)
			if err != nil {
				sum.Skipped = append(sum.Skipped, Skipped{m.source, err.Error()})
				return nil
			}
			sum.add(f.name, len(body))
			return fn(body)
		})
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}
