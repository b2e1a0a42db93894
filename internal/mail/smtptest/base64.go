package smtptest

import (
	"encoding/base64"
	"io"
)

// base64Reader decodes a base64 body; the decoder skips line breaks.
func base64Reader(r io.Reader) io.Reader { return base64.NewDecoder(base64.StdEncoding, r) }
