// A derived field: every post carries a slug made from its title, and
// every record of the app an edit counter. What a before hook leaves in
// e.record.fields is what gets stored and what subscribers receive.

function slugify(text) {
	return String(text).toLowerCase()
	    .replace(/[^a-z0-9]+/g, "-")
	    .replace(/^-+|-+$/g, "");
}

onRecordCreate("posts", function (e) {
	e.record.fields.slug = slugify(e.record.fields.title || "");
});

onRecordUpdate("posts", function (e) {
	if (typeof e.record.fields.title === "string")
		e.record.fields.slug = slugify(e.record.fields.title);
});

// No collection name: the hook runs for every collection of the app.
onRecordUpdate(function (e) {
	e.record.fields.edits = (e.record.fields.edits || 0) + 1;
});
