"""HTTP plumbing shared by every router: paging, versions (ETag / If-Match)."""
