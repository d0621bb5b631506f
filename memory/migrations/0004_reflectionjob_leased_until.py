from django.db import migrations


class Migration(migrations.Migration):
    """ReflectionJob is a durable job (chatter_site.lib.jobs): its lease column takes the shared name."""

    dependencies = [("memory", "0003_narrative_moderator_edit")]

    operations = [migrations.RenameField(model_name="reflectionjob", old_name="lease_until", new_name="leased_until")]
