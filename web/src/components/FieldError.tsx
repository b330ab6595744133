export function FieldError({ name, errors }: { name: string; errors: Record<string, string> }) {
  const message = errors[name];
  if (!message) return null;
  return (
    <span className="field-error" role="alert" data-testid={`field-error-${name}`}>
      {message}
    </span>
  );
}
