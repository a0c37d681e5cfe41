"""The mapping set's model in other tools' formats: NoSQL Workbench, CloudFormation."""
