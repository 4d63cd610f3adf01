package glacieremu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glacier"
	"github.com/aws/aws-sdk-go-v2/service/glacier/types"

	"github.com/grsync/grsync/internal/treehash"
)

func archiveJob(id string) *types.JobParameters {
	return &types.JobParameters{Type: aws.String("archive-retrieval"), ArchiveId: aws.String(id)}
}

func TestJobTiersAndExpiry(t *testing.T) {
	e := newEnv(t, Config{Delays: Delays{
		Expedited: 5 * time.Minute, Standard: 5 * time.Hour, Bulk: 12 * time.Hour, Inventory: 4 * time.Hour,
	}})
	e.createVault(t, testVault)
	ctx := context.Background()
	id := e.upload(t, testVault, "", []byte("data"))

	jobs := map[string]string{} // tier → job id
	for _, tier := range []string{"Expedited", "Standard", "Bulk", ""} {
		p := archiveJob(id)
		if tier != "" {
			p.Tier = aws.String(tier)
		}
		out, err := e.client.InitiateJob(ctx, &glacier.InitiateJobInput{VaultName: aws.String(testVault), JobParameters: p})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Location) != "/123456789012/vaults/"+testVault+"/jobs/"+aws.ToString(out.JobId) {
			t.Errorf("Location = %s", aws.ToString(out.Location))
		}
		jobs[tier] = aws.ToString(out.JobId)
	}
	status := func(tier string) (bool, string, *glacier.DescribeJobOutput) {
		d, err := e.client.DescribeJob(ctx, &glacier.DescribeJobInput{VaultName: aws.String(testVault), JobId: aws.String(jobs[tier])})
		if err != nil {
			t.Fatal(err)
		}
		return d.Completed, string(d.StatusCode), d
	}
	done, code, d := status("")
	if done || code != "InProgress" || aws.ToString(d.Tier) != "Standard" || d.SHA256TreeHash != nil || d.CompletionDate != nil {
		t.Errorf("new default-tier job: %+v", d)
	}
	_, err := e.client.GetJobOutput(ctx, &glacier.GetJobOutputInput{VaultName: aws.String(testVault), JobId: aws.String(jobs["Expedited"])})
	wantCode(t, err, CodeInvalidParameter) // not ready yet

	steps := []struct {
		advance time.Duration
		done    map[string]bool
	}{
		{5*time.Minute - time.Second, map[string]bool{"Expedited": false, "Standard": false, "Bulk": false}},
		{time.Second, map[string]bool{"Expedited": true, "Standard": false, "Bulk": false}},
		{5 * time.Hour, map[string]bool{"Expedited": true, "Standard": true, "Bulk": false}},
		{7 * time.Hour, map[string]bool{"Expedited": true, "Standard": true, "Bulk": true}},
	}
	for i, st := range steps {
		e.clock.Advance(st.advance)
		for tier, want := range st.done {
			if got, _, _ := status(tier); got != want {
				t.Errorf("step %d: %s completed = %v, want %v", i, tier, got, want)
			}
		}
	}
	done, code, d = status("Expedited")
	if !done || code != "Succeeded" || aws.ToString(d.CompletionDate) != "2024-03-17T06:05:00.000Z" ||
		aws.ToString(d.SHA256TreeHash) != treehash.Sum([]byte("data")).String() || d.ArchiveSizeInBytes == nil || *d.ArchiveSizeInBytes != 4 ||
		aws.ToString(d.RetrievalByteRange) != "0-3" || d.Action != types.ActionCodeArchiveRetrieval {
		t.Errorf("completed job: %+v", d)
	}

	// ListJobs filters.
	list := func(in *glacier.ListJobsInput) int {
		in.VaultName = aws.String(testVault)
		out, err := e.client.ListJobs(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return len(out.JobList)
	}
	if n := list(&glacier.ListJobsInput{}); n != 4 {
		t.Errorf("ListJobs: %d jobs", n)
	}
	e.clock.Advance(-7 * time.Hour) // back before Bulk completes
	if n := list(&glacier.ListJobsInput{Completed: aws.String("false")}); n != 1 {
		t.Errorf("ListJobs completed=false: %d jobs, want 1", n)
	}
	if n := list(&glacier.ListJobsInput{Statuscode: aws.String("Succeeded")}); n != 3 {
		t.Errorf("ListJobs statuscode=Succeeded: %d jobs, want 3", n)
	}
	_, err = e.client.ListJobs(ctx, &glacier.ListJobsInput{VaultName: aws.String(testVault), Statuscode: aws.String("finished")})
	wantCode(t, err, CodeInvalidParameter)
	_, err = e.client.ListJobs(ctx, &glacier.ListJobsInput{VaultName: aws.String(testVault), Completed: aws.String("yes")})
	wantCode(t, err, CodeInvalidParameter)
	pages := 0
	p := glacier.NewListJobsPaginator(e.client, &glacier.ListJobsInput{VaultName: aws.String(testVault), Limit: aws.Int32(3)})
	for p.HasMorePages() {
		if _, err := p.NextPage(ctx); err != nil {
			t.Fatal(err)
		}
		pages++
	}
	if pages != 2 {
		t.Errorf("ListJobs with limit 3 took %d pages, want 2", pages)
	}

	// Output expires 24 hours after completion.
	e.clock.Advance(19*time.Hour - time.Second)   // to 1s before completion + 24h
	e.output(t, testVault, jobs["Expedited"], "") // still there, just
	e.clock.Advance(time.Second)
	_, err = e.client.GetJobOutput(ctx, &glacier.GetJobOutputInput{VaultName: aws.String(testVault), JobId: aws.String(jobs["Expedited"])})
	wantCode(t, err, CodeResourceNotFound)
	_, err = e.client.DescribeJob(ctx, &glacier.DescribeJobInput{VaultName: aws.String(testVault), JobId: aws.String(jobs["Expedited"])})
	wantCode(t, err, CodeResourceNotFound)
}

func TestInitiateJobRules(t *testing.T) {
	e := newEnv(t, Config{})
	e.createVault(t, testVault)
	ctx := context.Background()
	data := randomData(3*MiB+5, 21)
	id := e.upload(t, testVault, "", data)
	tests := []struct {
		name string
		p    *types.JobParameters
		code string
	}{
		{"no type", &types.JobParameters{ArchiveId: aws.String(id)}, CodeMissingParameter},
		{"bad type", &types.JobParameters{Type: aws.String("archive")}, CodeInvalidParameter},
		{"select", &types.JobParameters{Type: aws.String("select"), ArchiveId: aws.String(id)}, CodeInvalidParameter},
		{"no archive id", &types.JobParameters{Type: aws.String("archive-retrieval")}, CodeMissingParameter},
		{"unknown archive", archiveJob("nope"), CodeResourceNotFound},
		{"bad tier", &types.JobParameters{Type: aws.String("archive-retrieval"), ArchiveId: aws.String(id), Tier: aws.String("Fast")}, CodeInvalidParameter},
		{"range not MiB aligned", &types.JobParameters{Type: aws.String("archive-retrieval"), ArchiveId: aws.String(id), RetrievalByteRange: aws.String("1-1048576")}, CodeInvalidParameter},
		{"range end not aligned", &types.JobParameters{Type: aws.String("archive-retrieval"), ArchiveId: aws.String(id), RetrievalByteRange: aws.String("0-1048577")}, CodeInvalidParameter},
		{"range past the end", &types.JobParameters{Type: aws.String("archive-retrieval"), ArchiveId: aws.String(id), RetrievalByteRange: aws.String("0-4194303")}, CodeInvalidParameter},
		{"range malformed", &types.JobParameters{Type: aws.String("archive-retrieval"), ArchiveId: aws.String(id), RetrievalByteRange: aws.String("bytes=0-1")}, CodeInvalidParameter},
		{"range to the end", &types.JobParameters{Type: aws.String("archive-retrieval"), ArchiveId: aws.String(id), RetrievalByteRange: aws.String("2097152-3145732")}, ""},
		{"description too long", &types.JobParameters{Type: aws.String("archive-retrieval"), ArchiveId: aws.String(id), Description: aws.String(strings.Repeat("x", 1025))}, CodeInvalidParameter},
		{"inventory with archive id", &types.JobParameters{Type: aws.String("inventory-retrieval"), ArchiveId: aws.String(id)}, CodeInvalidParameter},
		{"inventory with range", &types.JobParameters{Type: aws.String("inventory-retrieval"), RetrievalByteRange: aws.String("0-1048575")}, CodeInvalidParameter},
		{"inventory bad format", &types.JobParameters{Type: aws.String("inventory-retrieval"), Format: aws.String("XML")}, CodeInvalidParameter},
		{"inventory date filter", &types.JobParameters{Type: aws.String("inventory-retrieval"), InventoryRetrievalParameters: &types.InventoryRetrievalJobInput{StartDate: aws.String("2024-01-01T00:00:00Z")}}, CodeInvalidParameter},
		{"inventory", &types.JobParameters{Type: aws.String("inventory-retrieval")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.InitiateJob(ctx, &glacier.InitiateJobInput{VaultName: aws.String(testVault), JobParameters: tt.p})
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, tt.code)
		})
	}
	status, code, _ := e.raw(t, "POST", "/-/vaults/"+testVault+"/jobs", nil, []byte(`{"Type": "inventory-retrieval"`))
	if status != 400 || code != CodeSerialization {
		t.Errorf("malformed JSON: %d %s", status, code)
	}
}

func TestRangedJobOutput(t *testing.T) {
	e := newEnv(t, Config{})
	e.createVault(t, testVault)
	data := randomData(6*MiB+MiB/2, 31) // AWS's 6.5 MB example archive
	id := e.upload(t, testVault, "r", data)

	t.Run("ranges of a whole-archive job", func(t *testing.T) {
		job := e.retrieve(t, testVault, id, nil)
		tests := []struct {
			rng       string
			from, to  int // expected bytes [from, to)
			treeHash  bool
			wantRange string
		}{
			{"bytes=2097152-4194303", 2 * MiB, 4 * MiB, true, "bytes 2097152-4194303/6815744"},
			{"bytes=1048576-3145727", MiB, 3 * MiB, false, "bytes 1048576-3145727/6815744"},
			{"bytes=4194304-", 4 * MiB, len(data), true, "bytes 4194304-6815743/6815744"},
			{"bytes=6291456-6815743", 6 * MiB, len(data), true, "bytes 6291456-6815743/6815744"},
			{"bytes=0-1023", 0, 1024, false, "bytes 0-1023/6815744"},
			{"bytes=0-99999999", 0, len(data), true, "bytes 0-6815743/6815744"},
		}
		for _, tt := range tests {
			out, body := e.output(t, testVault, job, tt.rng)
			if !bytes.Equal(body, data[tt.from:tt.to]) {
				t.Errorf("%s: wrong bytes", tt.rng)
			}
			if out.Status != 206 || aws.ToString(out.ContentRange) != tt.wantRange || aws.ToString(out.AcceptRanges) != "bytes" {
				t.Errorf("%s: status %d, Content-Range %q", tt.rng, out.Status, aws.ToString(out.ContentRange))
			}
			got := aws.ToString(out.Checksum)
			if tt.treeHash && got != treehash.Sum(data[tt.from:tt.to]).String() {
				t.Errorf("%s: tree hash header %q, want that of the range", tt.rng, got)
			}
			if !tt.treeHash && got != "" {
				t.Errorf("%s: tree hash header %q on an unaligned range", tt.rng, got)
			}
		}
		for _, bad := range []string{"bytes=6815744-", "bytes=5-4", "items=0-1", "bytes=a-b"} {
			_, err := e.client.GetJobOutput(context.Background(), &glacier.GetJobOutputInput{
				VaultName: aws.String(testVault), JobId: aws.String(job), Range: aws.String(bad)})
			wantCode(t, err, CodeInvalidParameter)
		}
	})
	t.Run("aligned retrieval range", func(t *testing.T) {
		job := e.retrieve(t, testVault, id, aws.String("2097152-4194303"))
		d, err := e.client.DescribeJob(context.Background(), &glacier.DescribeJobInput{VaultName: aws.String(testVault), JobId: aws.String(job)})
		if err != nil {
			t.Fatal(err)
		}
		want := treehash.Sum(data[2*MiB : 4*MiB]).String()
		if aws.ToString(d.SHA256TreeHash) != want || aws.ToString(d.ArchiveSHA256TreeHash) != treehash.Sum(data).String() {
			t.Errorf("DescribeJob tree hashes: range %s, archive %s", aws.ToString(d.SHA256TreeHash), aws.ToString(d.ArchiveSHA256TreeHash))
		}
		out, body := e.output(t, testVault, job, "")
		if !bytes.Equal(body, data[2*MiB:4*MiB]) || aws.ToString(out.Checksum) != want || out.Status != 200 {
			t.Errorf("whole output of the range: status %d, tree hash %q", out.Status, aws.ToString(out.Checksum))
		}
		// The output's Range is relative to the retrieved range.
		out, body = e.output(t, testVault, job, "bytes=1048576-2097151")
		if !bytes.Equal(body, data[3*MiB:4*MiB]) || aws.ToString(out.Checksum) != treehash.Sum(data[3*MiB:4*MiB]).String() {
			t.Errorf("second MiB of the range: tree hash %q", aws.ToString(out.Checksum))
		}
	})
	t.Run("unaligned retrieval range", func(t *testing.T) {
		job := e.retrieve(t, testVault, id, aws.String("1048576-3145727"))
		d, err := e.client.DescribeJob(context.Background(), &glacier.DescribeJobInput{VaultName: aws.String(testVault), JobId: aws.String(job)})
		if err != nil {
			t.Fatal(err)
		}
		if d.SHA256TreeHash != nil {
			t.Errorf("SHA256TreeHash = %s for an unaligned range", *d.SHA256TreeHash)
		}
		out, body := e.output(t, testVault, job, "")
		if !bytes.Equal(body, data[MiB:3*MiB]) || out.Checksum != nil {
			t.Errorf("unaligned retrieval: tree hash header %q", aws.ToString(out.Checksum))
		}
		// Both the retrieval range and the download range must be
		// aligned: the first MiB of this output is leaf 1 of the archive,
		// a node, but the retrieval's range is not one.
		out, body = e.output(t, testVault, job, "bytes=0-1048575")
		if !bytes.Equal(body, data[MiB:2*MiB]) || out.Checksum != nil {
			t.Errorf("aligned part of an unaligned retrieval: tree hash header %q", aws.ToString(out.Checksum))
		}
	})
	t.Run("range spanning the archive", func(t *testing.T) {
		// As for a retrieval without a range: no SHA256TreeHash while the
		// job is in progress, the archive's once it is done.
		rng := fmt.Sprintf("0-%d", len(data)-1)
		out, err := e.client.InitiateJob(context.Background(), &glacier.InitiateJobInput{
			VaultName:     aws.String(testVault),
			JobParameters: &types.JobParameters{Type: aws.String("archive-retrieval"), ArchiveId: aws.String(id), RetrievalByteRange: aws.String(rng)},
		})
		if err != nil {
			t.Fatal(err)
		}
		describe := func() *glacier.DescribeJobOutput {
			d, err := e.client.DescribeJob(context.Background(), &glacier.DescribeJobInput{VaultName: aws.String(testVault), JobId: out.JobId})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		if d := describe(); d.Completed || d.SHA256TreeHash != nil || aws.ToString(d.RetrievalByteRange) != rng {
			t.Errorf("in progress: completed %v, SHA256TreeHash %q, range %q", d.Completed, aws.ToString(d.SHA256TreeHash), aws.ToString(d.RetrievalByteRange))
		}
		e.clock.Advance(time.Hour)
		if d := describe(); !d.Completed || aws.ToString(d.SHA256TreeHash) != treehash.Sum(data).String() {
			t.Errorf("done: completed %v, SHA256TreeHash %q", d.Completed, aws.ToString(d.SHA256TreeHash))
		}
	})
	t.Run("jobs listed with their ranges", func(t *testing.T) {
		var ranged []JobInfo
		for _, j := range e.srv.Jobs(testVault) {
			if j.Ranged {
				ranged = append(ranged, j)
			}
		}
		if len(ranged) != 3 || ranged[0].Start != 2*MiB || ranged[0].Length != 2*MiB || ranged[1].Start != MiB ||
			ranged[2].Length != int64(len(data)) || ranged[0].ArchiveID != id {
			t.Errorf("ranged jobs: %+v", ranged)
		}
	})
}

// inventory runs an inventory job to completion and returns its output.
func (e *env) inventory(t *testing.T, vault, format string) []byte {
	t.Helper()
	p := &types.JobParameters{Type: aws.String("inventory-retrieval")}
	if format != "" {
		p.Format = aws.String(format)
	}
	out, err := e.client.InitiateJob(context.Background(), &glacier.InitiateJobInput{VaultName: aws.String(vault), JobParameters: p})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	res, body := e.output(t, vault, aws.ToString(out.JobId), "")
	if res.Checksum != nil {
		t.Error("inventory output has a tree hash header")
	}
	return body
}

func TestInventory(t *testing.T) {
	e := newEnv(t, Config{})
	e.createVault(t, testVault)
	ctx := context.Background()

	// A vault that never held an archive has no inventory yet.
	_, err := e.client.InitiateJob(ctx, &glacier.InitiateJobInput{VaultName: aws.String(testVault),
		JobParameters: &types.JobParameters{Type: aws.String("inventory-retrieval")}})
	wantCode(t, err, CodeResourceNotFound)

	a := []byte("first")
	b := randomData(MiB+1, 41)
	idA := e.upload(t, testVault, `a <"quoted">, & more`, a)
	e.clock.Advance(90 * time.Minute)
	idB := e.upload(t, testVault, "", b)

	out, err := e.client.InitiateJob(ctx, &glacier.InitiateJobInput{VaultName: aws.String(testVault),
		JobParameters: &types.JobParameters{Type: aws.String("inventory-retrieval")}})
	if err != nil {
		t.Fatal(err)
	}
	// Archives added after the job started are not in its inventory.
	e.upload(t, testVault, "late", []byte("late"))
	e.clock.Advance(time.Hour)
	_, body := e.output(t, testVault, aws.ToString(out.JobId), "")

	want := `{"VaultARN":"arn:aws:glacier:us-east-1:123456789012:vaults/test-vault","InventoryDate":"2024-03-17T07:30:00Z","ArchiveList":[` +
		`{"ArchiveId":"` + idA + `","ArchiveDescription":"a <\"quoted\">, & more","CreationDate":"2024-03-17T06:00:00Z","Size":5,"SHA256TreeHash":"` + treehash.Sum(a).String() + `"},` +
		`{"ArchiveId":"` + idB + `","ArchiveDescription":"","CreationDate":"2024-03-17T07:30:00Z","Size":1048577,"SHA256TreeHash":"` + treehash.Sum(b).String() + `"}]}`
	if string(body) != want {
		t.Errorf("inventory:\n got %s\nwant %s", body, want)
	}
	d, err := e.client.DescribeJob(ctx, &glacier.DescribeJobInput{VaultName: aws.String(testVault), JobId: out.JobId})
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != types.ActionCodeInventoryRetrieval || d.InventorySizeInBytes == nil || *d.InventorySizeInBytes != int64(len(want)) ||
		d.ArchiveId != nil || d.InventoryRetrievalParameters == nil || aws.ToString(d.InventoryRetrievalParameters.Format) != "JSON" {
		t.Errorf("DescribeJob of inventory: %+v", d)
	}
	v, err := e.client.DescribeVault(ctx, &glacier.DescribeVaultInput{VaultName: aws.String(testVault)})
	if err != nil || aws.ToString(v.LastInventoryDate) != "2024-03-17T07:30:00.000Z" {
		t.Errorf("LastInventoryDate = %v (%v)", aws.ToString(v.LastInventoryDate), err)
	}

	csv := string(e.inventory(t, testVault, "CSV"))
	lines := strings.Split(strings.TrimSuffix(csv, "\n"), "\n")
	if len(lines) != 4 || lines[0] != "ArchiveId,ArchiveDescription,CreationDate,Size,SHA256TreeHash" ||
		!strings.HasPrefix(lines[1], idA+`,"a <\"quoted\">, & more",2024-03-17T06:00:00Z,5,`) {
		t.Errorf("CSV inventory:\n%s", csv)
	}
}

func TestLegacyInventoryServedVerbatim(t *testing.T) {
	fixture, err := os.ReadFile("testdata/legacy-inventory.json")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Config{})
	if err := e.srv.SetInventory("my-vault", fixture); err != nil {
		t.Fatal(err)
	}
	if got := e.inventory(t, "my-vault", ""); !bytes.Equal(got, fixture) {
		t.Errorf("inventory differs from the fixture:\n%s", got)
	}
	// Seeded archives are retrievable, and their tree hashes are the ones
	// the legacy inventory records.
	var inv struct {
		ArchiveList []struct {
			ArchiveId, ArchiveDescription, CreationDate, SHA256TreeHash string
			Size                                                        int64
		}
	}
	if err := json.Unmarshal(fixture, &inv); err != nil {
		t.Fatal(err)
	}
	small := inv.ArchiveList[3] // the 40-byte archive, kept in testdata
	data, err := os.ReadFile("testdata/legacy-archive-40")
	if err != nil {
		t.Fatal(err)
	}
	created, _ := time.Parse(time.RFC3339, small.CreationDate)
	if err := e.srv.SeedArchive("my-vault", small.ArchiveId, small.ArchiveDescription, created, data); err != nil {
		t.Fatal(err)
	}
	job := e.retrieve(t, "my-vault", small.ArchiveId, nil)
	out, body := e.output(t, "my-vault", job, "")
	if !bytes.Equal(body, data) || aws.ToString(out.Checksum) != small.SHA256TreeHash ||
		aws.ToString(out.ArchiveDescription) != small.ArchiveDescription {
		t.Errorf("seeded legacy archive: tree hash %s (inventory says %s), description %q",
			aws.ToString(out.Checksum), small.SHA256TreeHash, aws.ToString(out.ArchiveDescription))
	}
	// Back to inventories of the vault's own archives.
	if err := e.srv.SetInventory("my-vault", nil); err != nil {
		t.Fatal(err)
	}
	if got := e.inventory(t, "my-vault", ""); !bytes.Contains(got, []byte(small.ArchiveId)) || bytes.Equal(got, fixture) {
		t.Errorf("inventory after SetInventory(nil): %s", got)
	}
}
