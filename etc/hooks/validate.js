// Validation: refuse a post without a title, or with one too long.
// A plain Error (or a thrown string) refuses the write: the client gets
// 422 hook_rejected with this message, and nothing is stored.

function checkPost(e) {
	var f = e.record.fields;

	if (typeof f.title !== "string" || f.title.trim() === "")
		throw new Error("a post needs a title");
	if (f.title.length > 200)
		throw new Error("the title is longer than 200 characters");
}

onRecordCreate("posts", checkPost);
onRecordUpdate("posts", checkPost);
