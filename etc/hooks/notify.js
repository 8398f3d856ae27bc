// A notification published to another collection: subscribers of
// "notifications" hear about every new post. The collection must exist
// in the same app (basalt collection create REALM APP notifications).

onRecordAfterCreate("posts", function (e) {
	$app.realtime.publish("notifications", {
		type: "new_post",
		payload: { id: e.record.id, title: e.record.fields.title }
	});
});

// Inside a before hook the event joins the write's transaction: it is
// stored if the delete commits and dropped if it is refused.
onRecordDelete("posts", function (e) {
	$app.realtime.publish("notifications", {
		type: "post_removed",
		payload: { id: e.record.id }
	});
	$app.log("post", e.record.id, "removed");
});
