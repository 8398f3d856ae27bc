static const char *sql_pg[S__COUNT];
static const char *schema_pg = NULL;
static const char *webhook_sql_pg[16];
