// Written by hand to match both backends' migrations; times are epoch millis.

diesel::table! {
    profiles (id) {
        id -> BigInt,
        mdn -> Text,
        min -> Text,
        imsi -> Nullable<Text>,
        account_id -> Text,
        subscriber_name -> Text,
        sid_nid_pairs -> Text,
        accolc -> Integer,
        scm -> Integer,
        mob_p_rev -> Integer,
        slot_cycle_index -> Integer,
        local_control -> Bool,
        mob_term_home -> Bool,
        mob_term_for_sid -> Bool,
        mob_term_for_nid -> Bool,
        prl_id -> Nullable<Integer>,
        sspr_table -> Nullable<Integer>,
        pending_prl_id -> Nullable<Integer>,
        nai -> Nullable<Text>,
        home_agent -> Nullable<Text>,
        mn_ha_spi -> Nullable<BigInt>,
        mn_aaa_spi -> Nullable<BigInt>,
        puzl_id -> Nullable<Integer>,
        brew_url -> Nullable<Text>,
        features -> Text,
        activation_state -> Text,
        state_changed_at -> BigInt,
        new_esn -> Nullable<Text>,
        activated_esn -> Nullable<Text>,
        pin_hash -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    devices (id) {
        id -> BigInt,
        esn -> Nullable<Text>,
        meid -> Nullable<Text>,
        pesn -> Nullable<Text>,
        make -> Text,
        model -> Text,
        firmware_version -> Text,
        profile_id -> Nullable<BigInt>,
        last_contact_at -> Nullable<BigInt>,
        last_protocol -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        activation_state -> Text,
        deactivated_at -> Nullable<BigInt>,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    capabilities (id) {
        id -> BigInt,
        make -> Text,
        model -> Text,
        version_min -> Nullable<Text>,
        version_max -> Nullable<Text>,
        protocol -> Text,
        fota -> Bool,
        brew -> Bool,
        features -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    iota_esn_series (id) {
        id -> BigInt,
        make -> Text,
        first_esn -> BigInt,
        last_esn -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        at -> BigInt,
        actor -> Text,
        entity_kind -> Text,
        entity_id -> BigInt,
        action -> Text,
        detail -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        disabled -> Bool,
        created_at -> BigInt,
        session_generation -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    subscriber_session_generations (profile_id) {
        profile_id -> BigInt,
        generation -> BigInt,
    }
}

diesel::joinable!(subscriber_session_generations -> profiles (profile_id));
diesel::allow_tables_to_appear_in_same_query!(profiles, subscriber_session_generations);

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        name -> Text,
        token_hash -> Text,
        role -> Text,
        created_by -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    api_idempotency_keys (id) {
        id -> BigInt,
        token_id -> BigInt,
        idempotency_key -> Text,
        method -> Text,
        target -> Text,
        body_sha256 -> Nullable<Text>,
        claim -> Nullable<Text>,
        claimed_until -> BigInt,
        response_status -> Nullable<Integer>,
        content_type -> Nullable<Text>,
        location -> Nullable<Text>,
        response_body -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        carried_out_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    login_failures (throttle_key) {
        throttle_key -> Text,
        failures -> Integer,
        window_start -> BigInt,
        locked_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    import_runs (id) {
        id -> BigInt,
        filename -> Text,
        state -> Text,
        total_lines -> BigInt,
        processed_lines -> BigInt,
        imported_lines -> BigInt,
        errors -> Text,
        created_by -> Text,
        created_at -> BigInt,
        finished_at -> Nullable<BigInt>,
        holder -> Text,
        heartbeat_at -> BigInt,
        unlisted_errors -> BigInt,
        source -> Text,
        content_hash -> Text,
        batches -> BigInt,
    }
}

diesel::joinable!(devices -> profiles (profile_id));
diesel::allow_tables_to_appear_in_same_query!(profiles, devices);
diesel::allow_tables_to_appear_in_same_query!(devices, dm_sessions);

diesel::table! {
    firmware_packages (id) {
        id -> BigInt,
        name -> Text,
        make -> Text,
        model -> Text,
        from_version -> Nullable<Text>,
        to_version -> Text,
        size -> BigInt,
        sha256 -> Text,
        release_notes -> Text,
        mandatory -> Bool,
        state -> Text,
        created_by -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    firmware_revisions (id) {
        id -> BigInt,
        package_id -> BigInt,
        at -> BigInt,
        actor -> Text,
        from_state -> Nullable<Text>,
        to_state -> Text,
        note -> Text,
    }
}

diesel::table! {
    install_notifications (id) {
        id -> BigInt,
        package_id -> BigInt,
        status_code -> Integer,
        status_text -> Text,
        remote -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    dm_accounts (device_id) {
        device_id -> BigInt,
        server_id -> Text,
        server_password -> Text,
        client_username -> Text,
        client_password -> Text,
        client_nonce -> Text,
        server_nonce -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    dm_sessions (id) {
        id -> Text,
        device_id -> BigInt,
        session_id -> Text,
        last_msg_id -> Integer,
        authenticated -> Bool,
        state -> Text,
        fota_session_id -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        job_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    fota_sessions (id) {
        id -> BigInt,
        device_id -> BigInt,
        protocol -> Text,
        state -> Text,
        from_version -> Text,
        to_version -> Nullable<Text>,
        package_id -> Nullable<BigInt>,
        correlator -> Nullable<Text>,
        result_code -> Nullable<Integer>,
        detail -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        download_at -> Nullable<BigInt>,
        download_bytes -> Nullable<BigInt>,
    }
}

diesel::table! {
    fota_events (id) {
        id -> BigInt,
        fota_session_id -> BigInt,
        at -> BigInt,
        from_state -> Nullable<Text>,
        to_state -> Text,
        detail -> Text,
    }
}

diesel::table! {
    purge_runs (id) {
        id -> BigInt,
        state -> Text,
        cutoff -> BigInt,
        archive_dir -> Text,
        segment -> Integer,
        committed_bytes -> BigInt,
        last_profile_id -> BigInt,
        eligible -> BigInt,
        profiles -> BigInt,
        devices -> BigInt,
        started_by -> Text,
        started_at -> BigInt,
        heartbeat_at -> BigInt,
        finished_at -> Nullable<BigInt>,
        error -> Text,
        last_device_id -> BigInt,
        holder -> Text,
        abandoned_by -> Text,
        abandoned_at -> Nullable<BigInt>,
        abandon_reason -> Text,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        kind -> Text,
        device_id -> Nullable<BigInt>,
        mdn -> Text,
        payload -> Binary,
        data_coding -> Integer,
        wdp_port -> Nullable<Integer>,
        summary -> Text,
        state -> Text,
        attempts -> Integer,
        smsc_message_id -> Nullable<Text>,
        last_error -> Text,
        next_attempt_at -> BigInt,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<BigInt>,
        created_by -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        submitted_at -> Nullable<BigInt>,
        delivered_at -> Nullable<BigInt>,
        payload_view -> Nullable<Binary>,
        attempts_before_retry -> Integer,
    }
}

diesel::table! {
    sms_inbound (id) {
        id -> BigInt,
        source_addr -> Text,
        destination_addr -> Text,
        data_coding -> Integer,
        body -> Binary,
        handled_by -> Text,
        result -> Text,
        received_at -> BigInt,
    }
}

diesel::table! {
    dm_jobs (id) {
        id -> BigInt,
        device_id -> BigInt,
        dm_session_id -> Integer,
        kind -> Text,
        commands -> Text,
        state -> Text,
        outbox_id -> Nullable<BigInt>,
        fota_session_id -> Nullable<BigInt>,
        detail -> Text,
        created_by -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        results -> Text,
        correlator -> Nullable<Text>,
    }
}

diesel::table! {
    features (code) {
        code -> Text,
        name -> Text,
        description -> Text,
        price -> Text,
        legal_text -> Text,
        billing_service -> Text,
        active -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    feature_activations (id) {
        id -> BigInt,
        token -> Text,
        profile_id -> BigInt,
        device_id -> Nullable<BigInt>,
        feature -> Text,
        action -> Text,
        channel -> Text,
        state -> Text,
        idempotency_key -> Text,
        accepted_at -> Nullable<BigInt>,
        transaction_id -> Nullable<Text>,
        failure_code -> Nullable<Text>,
        failure_message -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    provisioning_records (id) {
        id -> BigInt,
        at -> BigInt,
        profile_id -> Nullable<BigInt>,
        mdn -> Text,
        esn -> Nullable<Text>,
        meid -> Nullable<Text>,
        feature -> Text,
        action -> Text,
        channel -> Text,
        outcome -> Text,
        code -> Text,
        transaction_id -> Text,
        activation_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    prls (id) {
        id -> BigInt,
        sspr_table -> Integer,
        prl_id -> Integer,
        name -> Text,
        bytes -> Binary,
        size -> Integer,
        crc -> Integer,
        created_by -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    iota_sessions (id) {
        id -> BigInt,
        token -> Text,
        flow -> Text,
        state -> Text,
        step -> Text,
        device_id -> Nullable<BigInt>,
        profile_id -> Nullable<BigInt>,
        esn -> Nullable<Text>,
        meid -> Nullable<Text>,
        prl_sspr_table -> Nullable<Integer>,
        fota_session_id -> Nullable<BigInt>,
        segment_offset -> Integer,
        next_seq -> Integer,
        outstanding -> Text,
        last_request_sha -> Nullable<Text>,
        last_response -> Nullable<Text>,
        detail -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        finished_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    esn_changes (id) {
        id -> BigInt,
        profile_id -> BigInt,
        variant -> Text,
        old_device_id -> Nullable<BigInt>,
        new_device_id -> Nullable<BigInt>,
        old_esn -> Nullable<Text>,
        new_esn -> Text,
        state -> Text,
        profile_copy -> Text,
        requested_by -> Text,
        created_at -> BigInt,
        completed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    fota_campaigns (id) {
        id -> BigInt,
        name -> Text,
        make -> Text,
        model -> Text,
        from_version -> Text,
        package_id -> BigInt,
        to_version -> Text,
        first_wave_size -> Integer,
        wave_size -> Integer,
        failure_threshold -> Integer,
        state -> Text,
        wave -> Integer,
        waves -> Integer,
        devices -> Integer,
        detail -> Text,
        created_by -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        started_at -> Nullable<BigInt>,
        finished_at -> Nullable<BigInt>,
        answer_within_mins -> Integer,
        window_from -> Nullable<Integer>,
        window_to -> Nullable<Integer>,
        not_before -> Nullable<BigInt>,
        mdn_prefix -> Nullable<Text>,
        account_id -> Nullable<Text>,
        window_zone -> Nullable<Text>,
        requeue_round -> Integer,
        canary -> Nullable<Integer>,
    }
}

diesel::table! {
    fota_campaign_devices (campaign_id, device_id) {
        campaign_id -> BigInt,
        device_id -> BigInt,
        wave -> Integer,
        state -> Text,
        fota_session_id -> Nullable<BigInt>,
        detail -> Text,
        updated_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(fota_campaign_devices, fota_sessions);
diesel::allow_tables_to_appear_in_same_query!(fota_campaign_devices, dm_jobs);
diesel::allow_tables_to_appear_in_same_query!(fota_campaign_devices, outbox);
diesel::allow_tables_to_appear_in_same_query!(dm_jobs, outbox);
diesel::allow_tables_to_appear_in_same_query!(fota_campaign_devices, profiles);
diesel::allow_tables_to_appear_in_same_query!(fota_campaign_devices, devices);
diesel::allow_tables_to_appear_in_same_query!(fota_campaign_devices, fota_campaigns);
