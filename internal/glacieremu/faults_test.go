package glacieremu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/glacier"

	"github.com/grsync/grsync/internal/treehash"
)

func TestFaultsSeenBySDK(t *testing.T) {
	data := randomData(64<<10, 51)
	upload := func(e *env) error {
		_, err := e.client.UploadArchive(context.Background(), &glacier.UploadArchiveInput{
			VaultName: aws.String(testVault), Body: bytes.NewReader(data)})
		return err
	}
	t.Run("error", func(t *testing.T) {
		e := newEnv(t, Config{Faults: map[Op]Fault{OpUploadArchive: {ErrorRate: 1}}})
		e.createVault(t, testVault)
		err := upload(e)
		if code, status := apiCode(err); code != CodeServiceUnavailable || status != 500 {
			t.Fatalf("got %v, want ServiceUnavailableException (500)", err)
		}
		if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
			t.Error("the SDK's standard retryer would not retry it")
		}
	})
	t.Run("throttle", func(t *testing.T) {
		e := newEnv(t, Config{Faults: map[Op]Fault{OpUploadArchive: {ThrottleRate: 1}}})
		e.createVault(t, testVault)
		err := upload(e)
		if code, status := apiCode(err); code != CodeThrottling || status != 400 {
			t.Fatalf("got %v, want ThrottlingException (400)", err)
		}
		if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
			t.Error("the SDK's standard retryer would not retry it")
		}
	})
	t.Run("drop mid-upload", func(t *testing.T) {
		e := newEnv(t, Config{Faults: map[Op]Fault{OpUploadArchive: {DropRate: 1}}})
		e.createVault(t, testVault)
		err := upload(e)
		if err == nil {
			t.Fatal("upload succeeded through a dropped connection")
		}
		if code, _ := apiCode(err); code != "" {
			t.Fatalf("got API error %v, want a connection error", err)
		}
		if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
			t.Errorf("the SDK's standard retryer would not retry %v", err)
		}
		st := e.srv.Stats()[OpUploadArchive]
		if st.Faults != 1 || st.BytesIn < int64(len(data))/2 || st.BytesIn >= int64(len(data)) {
			t.Errorf("stats %+v: want one fault with about half the body read", st)
		}
	})
	t.Run("latency", func(t *testing.T) {
		e := newEnv(t, Config{Now: time.Now, Faults: map[Op]Fault{AllOps: {Latency: 60 * time.Millisecond}}})
		start := time.Now()
		e.createVault(t, testVault)
		if d := time.Since(start); d < 60*time.Millisecond {
			t.Errorf("request took %v, want at least the 60ms latency", d)
		}
	})
}

func TestFaultsRetriedBySDK(t *testing.T) {
	e := newEnv(t, Config{Seed: 7, Faults: map[Op]Fault{
		AllOps:         {ErrorRate: 0.2, ThrottleRate: 0.2, DropRate: 0.2},
		OpGetJobOutput: {}, // exempt: its drops cut the body, which the SDK does not retry
	}})
	retrying := newClient(e.url, 25)
	ctx := context.Background()
	if _, err := retrying.CreateVault(ctx, &glacier.CreateVaultInput{VaultName: aws.String(testVault)}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	var datas [][]byte
	for i := range 8 {
		data := randomData(200<<10+i, uint64(60+i))
		out, err := retrying.UploadArchive(ctx, &glacier.UploadArchiveInput{
			VaultName: aws.String(testVault), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		ids = append(ids, aws.ToString(out.ArchiveId))
		datas = append(datas, data)
	}
	// A multipart upload through the same faults.
	big := randomData(2*MiB+3, 70)
	mu, err := retrying.InitiateMultipartUpload(ctx, &glacier.InitiateMultipartUploadInput{
		VaultName: aws.String(testVault), PartSize: aws.String(itoa(MiB))})
	if err != nil {
		t.Fatal(err)
	}
	for s := 0; s < len(big); s += MiB {
		part := big[s:min(s+MiB, len(big))]
		if _, err := retrying.UploadMultipartPart(ctx, &glacier.UploadMultipartPartInput{
			VaultName: aws.String(testVault), UploadId: mu.UploadId,
			Range: aws.String(fmt.Sprintf("bytes %d-%d/*", s, s+len(part)-1)), Body: bytes.NewReader(part)}); err != nil {
			t.Fatalf("part at %d: %v", s, err)
		}
	}
	done, err := retrying.CompleteMultipartUpload(ctx, &glacier.CompleteMultipartUploadInput{
		VaultName: aws.String(testVault), UploadId: mu.UploadId,
		ArchiveSize: aws.String(itoa(int64(len(big)))), Checksum: aws.String(treehash.Sum(big).String())})
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, aws.ToString(done.ArchiveId))
	datas = append(datas, big)

	for i, id := range ids {
		out, err := retrying.InitiateJob(ctx, &glacier.InitiateJobInput{VaultName: aws.String(testVault), JobParameters: archiveJob(id)})
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Hour)
		if _, err := retrying.DescribeJob(ctx, &glacier.DescribeJobInput{VaultName: aws.String(testVault), JobId: out.JobId}); err != nil {
			t.Fatal(err)
		}
		res, err := retrying.GetJobOutput(ctx, &glacier.GetJobOutputInput{VaultName: aws.String(testVault), JobId: out.JobId})
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || !bytes.Equal(body, datas[i]) {
			t.Fatalf("archive %d: read %d bytes, %v", i, len(body), err)
		}
	}

	v, err := retrying.DescribeVault(ctx, &glacier.DescribeVaultInput{VaultName: aws.String(testVault)})
	if err != nil {
		t.Fatal(err)
	}
	// Retries must not have stored anything twice.
	if v.NumberOfArchives != int64(len(ids)) {
		t.Errorf("%d archives stored, want %d", v.NumberOfArchives, len(ids))
	}
	var faults int64
	for op, st := range e.srv.Stats() {
		faults += st.Faults
		if op == OpGetJobOutput && st.Faults != 0 {
			t.Errorf("GetJobOutput got %d faults though exempt", st.Faults)
		}
	}
	if faults < 10 {
		t.Errorf("only %d faults injected; the test does not exercise retries", faults)
	}
}

func TestDropMidJobOutput(t *testing.T) {
	e := newEnv(t, Config{})
	e.createVault(t, testVault)
	ctx := context.Background()
	data := randomData(3*MiB, 81)
	id := e.upload(t, testVault, "", data)
	job := e.retrieve(t, testVault, id, nil)
	if err := e.srv.SetFault(OpGetJobOutput, Fault{DropRate: 1}); err != nil {
		t.Fatal(err)
	}
	res, err := e.client.GetJobOutput(ctx, &glacier.GetJobOutputInput{VaultName: aws.String(testVault), JobId: aws.String(job)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) == 0 || len(got) >= len(data) || !bytes.Equal(got, data[:len(got)]) {
		t.Fatalf("read %d of %d bytes, err %v; want a truncated prefix and io.ErrUnexpectedEOF", len(got), len(data), err)
	}
	// The reader resumes with a Range request.
	e.srv.ClearFault(OpGetJobOutput)
	_, rest := e.output(t, testVault, job, fmt.Sprintf("bytes=%d-", len(got)))
	if !bytes.Equal(append(got, rest...), data) {
		t.Error("resumed download differs")
	}
}

func TestSetFaultValidation(t *testing.T) {
	srv, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, f := range []Fault{{ErrorRate: -0.1}, {DropRate: 1.5}, {ErrorRate: 0.6, ThrottleRate: 0.6}, {Latency: -time.Second}} {
		if err := srv.SetFault(AllOps, f); err == nil {
			t.Errorf("SetFault(%+v) accepted", f)
		}
	}
	if err := srv.SetFault("NoSuchOp", Fault{ErrorRate: 0.5}); err == nil {
		t.Error("SetFault accepted an unknown operation")
	}
	if _, err := New(Config{MinPartSize: 3000}); err == nil {
		t.Error("New accepted a min part size that is not a power of two")
	}
}
