"use client";
// React resets a <form action={fn}> after the action settles. A controlled checkbox never writes
// its `checked` attribute, so the reset puts it back to how it was first rendered while the
// component's state says otherwise: after a refused submit, a dataset the user unticked showed as
// ticked again. This onSubmit sends the same FormData itself and prevents the default, so React
// skips its own dispatch and the reset (the form keeps `action` for a submit before hydration).
import { startTransition, type FormEvent } from "react";

/** onSubmit for a form whose action is a useActionState dispatcher. `before`: what else a submit clears. */
export function submitWithoutReset(dispatch: (data: FormData) => void, before?: () => void) {
  return (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    before?.();
    const data = new FormData(e.currentTarget, (e.nativeEvent as SubmitEvent).submitter);
    startTransition(() => dispatch(data));
  };
}
