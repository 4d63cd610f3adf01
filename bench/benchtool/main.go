// Command benchtool holds the two helpers the bench/ scripts need and the
// shell does badly: making trees of many small files fast, and counting the
// requests that reach an S3 server.
//
//	benchtool gentree -dir DIR -n FILES -size BYTES [-seed N] [-per-dir N]
//	benchtool proxy -target URL -addr-file FILE
//
// gentree writes FILES files whose sizes are spread evenly over
// [BYTES/2, 3*BYTES/2]; every other file is text (words, compressible about
// 3:1 by zstd), the rest random bytes (incompressible). Trees are the same
// for the same seed. Files go PER-DIR to a folder.
//
// proxy forwards every request to URL and counts them by S3 operation:
// requests, request body bytes and response body bytes. It writes the
// address it listens on to FILE. GET /__bench/stats answers one line per
// operation ("op count bytes_sent bytes_received"); POST /__bench/reset
// zeroes the counts. Bucket names cannot contain "_", so these paths never
// collide with S3 requests.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("benchtool: ")
	if len(os.Args) < 2 {
		log.Fatal("usage: benchtool gentree|proxy [flags] (see go doc ./bench/benchtool)")
	}
	var err error
	switch os.Args[1] {
	case "gentree":
		err = gentree(os.Args[2:])
	case "proxy":
		err = proxy(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: use gentree or proxy", os.Args[1])
	}
	if err != nil {
		log.Fatal(err)
	}
}

var words = strings.Fields(`the of and to in is that for it as was with be by on not he this are or
his from at which but have an they you were her she there been one all we their has would when if
so no will more out can up about them some could into time only other then its over also new file
backup archive catalogue restore store cold glacier vault bucket object data block chunk pack index
key age zstd tar sync version change size mode owner group path folder photo mail image disk year
month day report budget invoice meeting project draft final note list table value number error
warning result test build release branch commit merge review issue plan cost price bill storage`)

func gentree(args []string) error {
	fs := flag.NewFlagSet("gentree", flag.ContinueOnError)
	dir := fs.String("dir", "", "folder to create the files in (created)")
	n := fs.Int("n", 1000, "number of files")
	size := fs.Int("size", 6144, "average file size in bytes")
	seed := fs.Uint64("seed", 1, "random seed (same seed, same tree)")
	perDir := fs.Int("per-dir", 500, "files per folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *n < 0 || *size < 2 || *perDir < 1 {
		return fmt.Errorf("gentree: need -dir, -n >= 0, -size >= 2, -per-dir >= 1")
	}
	const workers = 4
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := make([]byte, 0, 2**size)
			for i := w; i < *n; i += workers {
				rng := rand.New(rand.NewPCG(*seed, uint64(i)))
				sz := *size/2 + rng.IntN(*size+1)
				buf = buf[:0]
				name := fmt.Sprintf("f%07d.txt", i)
				if i%2 == 1 {
					name = fmt.Sprintf("f%07d.bin", i)
					buf = buf[:sz]
					for j := 0; j+8 <= sz; j += 8 {
						v := rng.Uint64()
						for k := 0; k < 8; k++ {
							buf[j+k] = byte(v >> (8 * k))
						}
					}
					for j := sz &^ 7; j < sz; j++ {
						buf[j] = byte(rng.Uint32())
					}
				} else {
					buf = fmt.Appendf(buf, "file %d\n", i)
					for len(buf) < sz {
						buf = append(buf, words[rng.IntN(len(words))]...)
						if rng.IntN(12) == 0 {
							buf = append(buf, '\n')
						} else {
							buf = append(buf, ' ')
						}
					}
					buf = buf[:sz]
				}
				d := filepath.Join(*dir, fmt.Sprintf("d%05d", i / *perDir))
				if err := os.MkdirAll(d, 0o755); err != nil {
					errs <- err
					return
				}
				if err := os.WriteFile(filepath.Join(d, name), buf, 0o644); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// counts are the proxy's tallies for one operation.
type counts struct{ n, sent, received int64 }

func proxy(args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	target := fs.String("target", "", "URL to forward to, e.g. http://127.0.0.1:5000")
	addrFile := fs.String("addr-file", "", "file to write the proxy's URL to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("proxy: -target must be a URL like http://127.0.0.1:5000")
	}
	var mu sync.Mutex
	tally := map[string]*counts{}
	rp := &httputil.ReverseProxy{
		Rewrite:  func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		ErrorLog: log.New(io.Discard, "", 0),
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/__bench/stats":
			mu.Lock()
			ops := make([]string, 0, len(tally))
			for op := range tally {
				ops = append(ops, op)
			}
			sort.Strings(ops)
			for _, op := range ops {
				c := tally[op]
				fmt.Fprintf(w, "%s %d %d %d\n", op, c.n, c.sent, c.received)
			}
			mu.Unlock()
			return
		case "/__bench/reset":
			mu.Lock()
			tally = map[string]*counts{}
			mu.Unlock()
			return
		}
		op := operation(r)
		body := &countingReader{r: r.Body}
		r.Body = body
		cw := &countingWriter{ResponseWriter: w}
		rp.ServeHTTP(cw, r)
		mu.Lock()
		c := tally[op]
		if c == nil {
			c = &counts{}
			tally[op] = c
		}
		c.n++
		c.sent += body.n
		c.received += cw.n
		mu.Unlock()
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte("http://"+l.Addr().String()+"\n"), 0o644); err != nil {
			return err
		}
	}
	return http.Serve(l, h)
}

// operation names the S3 operation of a path-style request.
func operation(r *http.Request) string {
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	path := strings.Trim(r.URL.Path, "/")
	bucketOnly := !strings.Contains(path, "/")
	switch r.Method {
	case http.MethodPut:
		switch {
		case has("partNumber"):
			return "UploadPart"
		case bucketOnly:
			return "CreateBucket"
		case r.Header.Get("X-Amz-Copy-Source") != "":
			return "CopyObject"
		}
		return "PutObject"
	case http.MethodPost:
		switch {
		case has("uploads"):
			return "CreateMultipartUpload"
		case has("uploadId"):
			return "CompleteMultipartUpload"
		case has("restore"):
			return "RestoreObject"
		case has("delete"):
			return "DeleteObjects"
		}
		return "Post"
	case http.MethodGet:
		switch {
		case has("uploadId"):
			return "ListParts"
		case has("uploads"):
			return "ListMultipartUploads"
		case bucketOnly:
			return "ListObjects"
		}
		return "GetObject"
	case http.MethodHead:
		if bucketOnly {
			return "HeadBucket"
		}
		return "HeadObject"
	case http.MethodDelete:
		if has("uploadId") {
			return "AbortMultipartUpload"
		}
		return "DeleteObject"
	}
	return r.Method
}

type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
