import { EnrollmentError, enrollHost } from '../../../../server/agents/enrollment';
import { enrollInput } from '../../../../server/agents/schemas';

export const dynamic = 'force-dynamic';

export async function POST(request: Request) {
  const body = await request.json().catch(() => undefined);
  const parsed = enrollInput.safeParse(body);
  if (!parsed.success)
    return Response.json(
      { message: `invalid enrolment request: ${parsed.error.issues[0]?.message ?? ''}` },
      { status: 400 },
    );
  try {
    const result = await enrollHost(parsed.data, request.headers.get('x-forwarded-for'));
    return Response.json(result, { status: 201 });
  } catch (error) {
    if (error instanceof EnrollmentError)
      return Response.json({ message: error.message }, { status: error.status });
    return Response.json({ message: 'enrolment failed' }, { status: 500 });
  }
}
