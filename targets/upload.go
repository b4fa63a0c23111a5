package targets

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
)

// UploadAnswer is what /upload answers: what arrived, so the client can
// check it against what it sent.
type UploadAnswer struct {
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// MaxUpload bounds one upload body (the buffered server holds it whole).
const MaxUpload = 1 << 30

// upload is PUT/POST /upload, the s3proxy story's UploadPart (seed 003):
// buffered reads the whole body into memory before it answers (a handler
// that hands the body to something wanting a []byte); streamed and
// batched hash it 64 KiB at a time as it arrives, holding one chunk.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	h := sha256.New()
	body := http.MaxBytesReader(w, r.Body, MaxUpload)
	var n int64
	var err error
	if s.cfg.Impl == ImplBuffered {
		var all []byte
		if all, err = io.ReadAll(body); err == nil {
			h.Write(all)
			n = int64(len(all))
		}
	} else {
		n, err = io.CopyBuffer(h, body, make([]byte, 64<<10))
	}
	if err != nil {
		http.Error(w, "read the upload: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.served.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(UploadAnswer{Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))})
}

// discard is PUT/POST /discard: reads the body and drops it, answering
// {"bytes": N}: a server that costs an upload flood nothing, for
// measuring the client.
func (s *Server) discard(w http.ResponseWriter, r *http.Request) {
	n, err := io.CopyBuffer(io.Discard, r.Body, make([]byte, 64<<10))
	if err != nil {
		http.Error(w, "read the upload: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Bytes int64 `json:"bytes"`
	}{n})
}
